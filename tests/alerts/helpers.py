"""What the tests share: running the deliveries a worker would run, and the README's verifier."""

from __future__ import annotations

import re
from pathlib import Path

from alerts import tasks
from alerts.models import Delivery

README = Path(__file__).resolve().parents[2] / "README.md"


def send_pending() -> list[str]:
    """Run the task queued after commit for each pending delivery that is due, as a worker would
    (tests in a transaction never commit, so nothing was queued)."""
    pending = Delivery.objects.filter(status="pending").order_by("id").values_list("id", flat=True)
    return [tasks.deliver(delivery_id) for delivery_id in pending]


def readme_verify():
    """The verification snippet of the README's "Alerts" section, executed: the documented way
    must work on what cellwise sends."""
    block = re.search(r"<!-- verify-webhook -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert block, "the README lost its verification snippet"
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102 - our own README
    return namespace["verify"]
