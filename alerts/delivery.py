"""Sending: one attempt of one delivery, and the catch-up that hands due retries to workers.

1. `deliver(id)` (a django-q2 task, queued after the event's transaction commits) claims the
   delivery with a lease, POSTs the signed body and records the outcome: delivered (2xx), due
   again after an exponential backoff, or failed once the next try would fall past its retry span.
2. An attempt never takes longer than ALERTS_WEBHOOK_TIMEOUT_SECONDS: connect, send and answer
   share it, and reading the answer stops at the deadline. A receiver that is down or hung costs
   one worker that long, never the monitoring loop (which only wrote rows).
3. `deliver_due()` (every minute, and at each worker's start) queues what is due again: every
   due delivery of a healthy webhook, one at a time (the oldest) for a webhook that is failing,
   so a dead receiver with a backlog does not occupy every worker. Each success queues that
   webhook's next due delivery at once, so a backlog drains back to back once it answers.
4. At least once: a worker killed after sending and before recording leaves the lease to expire;
   the delivery is then sent again with the same `webhook-id`, which receivers deduplicate on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from alerts import bodies, destinations, queue, selectors, services, signing
from alerts.models import Delivery

log = logging.getLogger(__name__)
USER_AGENT = "cellwise-webhooks/1"
ANSWER_BYTES = 2048  # of the receiver's answer kept for the log


@dataclass
class Outcome:
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str = ""
    retry_after: float | None = None


def _timeouts(limit: float) -> httpx.Timeout:
    """Phases that add up to the attempt's deadline."""
    return httpx.Timeout(connect=limit / 4, write=limit / 4, read=limit / 2, pool=limit / 4)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def attempt(delivery: Delivery) -> Outcome:
    """POST the event to the webhook once, signed, within the deadline."""
    webhook, event = delivery.webhook, delivery.event
    body = bodies.render(event.payload, webhook.format)
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "x-cellwise-event": event.type,
               **signing.headers(webhook.secret, str(event.id), int(time.time()), body)}
    limit = settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS
    began = time.monotonic()

    def elapsed_ms() -> float:
        return round((time.monotonic() - began) * 1000, 1)

    refused = destinations.resolved_problem(webhook.url)
    if refused:
        return Outcome(False, None, elapsed_ms(), refused)
    try:
        with httpx.Client(timeout=_timeouts(limit), follow_redirects=False) as client, \
                client.stream("POST", webhook.url, content=body, headers=headers) as response:
            answer = b""
            for chunk in response.iter_bytes():
                answer += chunk
                if len(answer) >= ANSWER_BYTES or time.monotonic() - began > limit:
                    break
    except httpx.TimeoutException:
        return Outcome(False, None, elapsed_ms(), f"no answer within {limit:g} s")
    except Exception as error:  # refused, reset, a bad address…: a failed attempt, never a stuck lease
        return Outcome(False, None, elapsed_ms(), f"{type(error).__name__}: {error}"[:500])
    if response.is_success:
        return Outcome(True, response.status_code, elapsed_ms())
    text = answer[:300].decode(errors="replace").strip()
    problem = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    return Outcome(False, response.status_code, elapsed_ms(), problem, _retry_after(response))


def deliver(delivery_id: int) -> str:
    delivery = services.delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return f"delivery {delivery_id}: not due, done, or taken by another worker"
    outcome = attempt(delivery)
    written = services.delivery_record(delivery=delivery, ok=outcome.ok, status_code=outcome.status_code,
                                       latency_ms=outcome.latency_ms, error=outcome.error,
                                       retry_after=outcome.retry_after)
    if written is None:
        return f"delivery {delivery_id}: its webhook was deleted during the attempt"
    if not outcome.ok:
        log.warning("webhook %s: delivery %s attempt %s failed: %s", delivery.webhook.name, delivery.id,
                    delivery.attempts, outcome.error)
    elif selectors.due_deliveries(webhook_id=delivery.webhook_id, limit=1):
        queue.enqueue_due(str(delivery.webhook_id))  # it answers again: on to its next due delivery
    return f"delivery {delivery_id}: {written.status} after attempt {delivery.attempts} ({outcome.latency_ms} ms)"


def deliver_due(*, webhook_id=None, limit: int = 200) -> dict:
    """Queue due deliveries (see the module docstring, point 3) and fail expired ones."""
    expired = services.deliveries_expire()
    due = selectors.due_deliveries(webhook_id=webhook_id, limit=limit)
    failing = {hook for _, hook, attempts in due if attempts > 0}
    chosen, probing = [], set()
    for delivery_id, hook, _ in due:
        if hook in failing:
            if hook in probing:
                continue
            probing.add(hook)
        chosen.append(delivery_id)
    queue.enqueue(chosen)
    return {"queued": len(chosen), "held_back": len(due) - len(chosen), "expired": expired}
