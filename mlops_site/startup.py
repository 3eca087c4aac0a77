"""Start-up recovery run by every worker before it takes work (and by a periodic task)."""

from __future__ import annotations

from performance.services.monitors import field_monitor_recover
from training.services import training_recover, training_requeue_queued


def recover() -> list[str]:
    """Heal state a dead worker may have left behind; returns a line per thing it fixed."""
    return training_recover() + training_requeue_queued() + field_monitor_recover()
