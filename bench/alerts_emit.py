"""What an alert costs the state change that emits it: a transaction writing one MonitorEvent
(the baseline: what a monitor transition writes anyway) against the same transaction plus
`alert_emit` to 1 and 10 webhooks, including the after-commit hand-off to the broker (ORM,
embedded). The webhooks point at a receiver that accepts and never answers: emitting must not
notice (no request is made on this path).
"""

from __future__ import annotations

import socket
import statistics
import time

from _setup import django_embedded

ROUNDS = 200


def transaction_ms(emit: bool) -> float:
    from django.db import transaction
    from django.utils import timezone

    from alerts.models import EventType
    from alerts.services import alert_emit
    from performance.models import MonitorEvent

    timings = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        with transaction.atomic():
            MonitorEvent.objects.create(at=timezone.now(), field="sinr_mean", kind="transition",
                                        from_state="monitoring", to_state="retraining", reason="bench")
            if emit:
                alert_emit(type=EventType.FIELD_DEGRADED, fields=["sinr_mean"], text="bench",
                           scores={"score": 3.0, "baseline": 2.0, "threshold": 2.5}, links={"field": "/fields/x/"})
        timings.append(time.perf_counter() - began)
    return statistics.median(timings) * 1000


def main() -> None:
    django_embedded()
    from alerts import services

    hung = socket.socket()  # accepts connections (backlog) and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(100)
    url = f"http://127.0.0.1:{hung.getsockname()[1]}/hook"
    baseline = transaction_ms(emit=False)
    services.webhook_create(name="hung-0", url=url)
    one = transaction_ms(emit=True)
    for i in range(1, 10):
        services.webhook_create(name=f"hung-{i}", url=url)
    ten = transaction_ms(emit=True)
    print(f"transition alone          : {baseline:.2f} ms")
    print(f"+ alert to 1 hung webhook : {one:.2f} ms ({one / baseline:.2f}x)")
    print(f"+ alert to 10 hung webhooks: {ten:.2f} ms ({ten / baseline:.2f}x)")


if __name__ == "__main__":
    main()
