"""Every write of the alerts app: webhooks (each change leaves a `WebhookEvent`), the one emit
function the other apps call inside their transactions, the deliveries' guarded transitions
(claim → delivered | retry | failed, each attempt an append-only row) and the dependency
watcher's persisted state."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from alerts import destinations, links as page_links, queue, signing
from alerts.models import (
    AlertEvent,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DependencyStatus,
    EventType,
    Format,
    Webhook,
    WebhookEvent,
)
from core.errors import FIELD_NAME_PATTERN, Conflict, Invalid
from core.events import actor_name
from core.types import Actor

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
SUBSCRIBABLE = [t for t in EventType.values if t != EventType.TEST]  # a test goes to the webhook that asked
MAX_FIELDS = 64
CLAIM_MARGIN_SECONDS = 5  # a lease outlives the attempt it covers (ALERTS_WEBHOOK_TIMEOUT_SECONDS) by this


# --- Webhooks ---------------------------------------------------------------------------------

def url_problem(url: str) -> str | None:
    if not url or len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        return "url must be an http(s) URL of at most 2000 characters, without spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as error:
        return f"url is not a valid URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must start with http:// or https:// and name a host"
    return destinations.literal_problem(url)


def _validated(*, name: str, url: str, secret: str, event_types: Sequence[str], fields: Sequence[str],
               format: str) -> dict[str, Any]:
    problems: list[str | None] = []
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        problems.append("name must be 1-100 letters, digits, spaces, '_', '.' or '-' (starting with a letter or digit)")
    problems.append(url_problem(url))
    problems.append(signing.secret_problem(secret))
    unknown = sorted({t for t in event_types if t not in SUBSCRIBABLE})
    if unknown:
        problems.append(f"unknown event types {', '.join(unknown)}; use {', '.join(SUBSCRIBABLE)} (none: all)")
    bad = sorted({f for f in fields if not isinstance(f, str) or not re.fullmatch(FIELD_NAME_PATTERN, f)})
    if bad or len(fields) > MAX_FIELDS:
        problems.append(f"fields must be at most {MAX_FIELDS} KPI field names (letters, digits, '_', '.', ':', '-')")
    if format not in Format.values:
        problems.append(f"format must be one of {', '.join(Format.values)}")
    found = [p for p in problems if p]
    if found:
        raise Invalid("; ".join(found))
    return {"name": name, "url": url, "secret": secret, "event_types": sorted(set(event_types)),
            "fields": sorted(set(fields)), "format": format}


def _webhook_event(webhook: Webhook, *, kind: str, user: Actor, message: str, **details: Any) -> None:
    WebhookEvent.objects.create(webhook_id=webhook.id, webhook_name=webhook.name, kind=kind,
                                actor=actor_name(user), message=message, details=details)


def _name_taken(name: str, *, other_than=None) -> None:
    taken = Webhook.objects.filter(name=name)
    if other_than is not None:
        taken = taken.exclude(id=other_than)
    if taken.exists():
        raise Conflict(f"a webhook named {name!r} exists already")


def webhook_check(*, webhook_id=None, name: str, url: str, secret: str | None, event_types: Sequence[str],
                  fields: Sequence[str], format: str) -> None:
    """Raise what create (or update of `webhook_id`) would refuse, so a form can show it before
    saving. An empty secret is fine: one is generated, or the current one kept."""
    _validated(name=name, url=url, secret=secret or signing.new_secret(), event_types=event_types, fields=fields,
               format=format)
    _name_taken(name, other_than=webhook_id)


@transaction.atomic
def webhook_create(*, name: str, url: str, secret: str | None = None, event_types: Sequence[str] = (),
                   fields: Sequence[str] = (), format: str = Format.JSON, active: bool = True,
                   user: Actor = None) -> Webhook:
    """A new endpoint; without a secret one is generated (`whsec_…`)."""
    values = _validated(name=name, url=url, secret=secret or signing.new_secret(), event_types=event_types,
                        fields=fields, format=format)
    _name_taken(name)
    webhook = Webhook.objects.create(**values, active=bool(active), created_by=actor_name(user))
    _webhook_event(webhook, kind="created", user=user, message=f"webhook {name} → {url}",
                   event_types=values["event_types"], fields=values["fields"], format=format, active=bool(active))
    return webhook


@transaction.atomic
def webhook_update(*, webhook: Webhook, user: Actor = None, rotate_secret: bool = False, **changes) -> Webhook:
    """Change any of name, url, secret, event_types, fields, format, active; `rotate_secret`
    replaces the secret with a new generated one."""
    allowed = {"name", "url", "secret", "event_types", "fields", "format", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}")
    current = Webhook.objects.select_for_update().get(id=webhook.id)
    merged = {k: getattr(current, k) for k in allowed - {"active"}}
    merged.update({k: v for k, v in changes.items() if k != "active" and v is not None})
    if rotate_secret:
        merged["secret"] = signing.new_secret()
    values = _validated(**merged)
    _name_taken(values["name"], other_than=current.id)
    if changes.get("active") is not None:
        values["active"] = bool(changes["active"])
    changed = sorted(k for k, v in values.items() if getattr(current, k) != v)
    if changed:
        Webhook.objects.filter(id=current.id).update(**values, updated_at=timezone.now())
        _webhook_event(current, kind="secret_rotated" if changed == ["secret"] else "updated", user=user,
                       message=f"changed {', '.join(changed)}", changed=changed)
    return Webhook.objects.get(id=current.id)


@transaction.atomic
def webhook_delete(*, webhook: Webhook, user: Actor = None) -> None:
    """Removes the webhook and its delivery log (the events stay)."""
    _webhook_event(webhook, kind="deleted", user=user, message=f"webhook {webhook.name} deleted", url=webhook.url)
    Webhook.objects.filter(id=webhook.id).delete()


@transaction.atomic
def webhook_test(*, webhook: Webhook, user: Actor = None) -> AlertEvent:
    """Send a `test` event to this webhook only (whatever its filters, active or not)."""
    _webhook_event(webhook, kind="test_sent", user=user, message=f"test event sent by {actor_name(user)}")
    return alert_emit(
        type=EventType.TEST, to=webhook,
        text=f"test event for webhook {webhook.name}, sent by {actor_name(user)}",
        data={"webhook": webhook.name}, links={"webhook": reverse("alerts-webhook", args=[webhook.id])},
    )


# --- Events -----------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """JSON-safe: no NaN or infinities (PostgreSQL's jsonb refuses them; receivers choke on them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def alert_emit(*, type: str, text: str, fields: Sequence[str] = (), models: Sequence[dict] = (),
               scores: dict | None = None, data: dict | None = None, links: dict[str, str] | None = None,
               to: Webhook | None = None) -> AlertEvent:
    """Record an event and one pending delivery for each active webhook that wants it (or for
    `to` only), inside the caller's transaction: both exist exactly when the state change that
    caused them commits. Deliveries start after the commit (django-q2 tasks); nothing here waits
    on a receiver. `links` are page paths, made absolute under PUBLIC_BASE_URL."""
    if type not in EventType.values:
        raise ValueError(f"unknown alert event type {type!r}")
    now, event_id, fields = timezone.now(), uuid.uuid4(), list(fields)
    payload = json.loads(json.dumps(_plain({
        "type": type, "id": str(event_id), "time": now.isoformat(),
        "field": fields[0] if len(fields) == 1 else None, "fields": fields,
        "models": list(models), "scores": scores or {}, "data": data or {},
        "links": {name: page_links.absolute(path) for name, path in (links or {}).items()},
        "text": text,
    }), cls=DjangoJSONEncoder))
    with transaction.atomic():
        event = AlertEvent.objects.create(id=event_id, type=type, at=now, fields=fields, text=text, payload=payload)
        receivers = [to] if to is not None else [
            w for w in Webhook.objects.filter(active=True) if w.wants(type, fields)]
        expires = now + timedelta(seconds=settings.ALERTS_RETRY_SPAN_SECONDS)
        deliveries = Delivery.objects.bulk_create(
            [Delivery(event=event, webhook=w, next_attempt_at=now, expires_at=expires) for w in receivers])
        if deliveries:
            ids = [d.id for d in deliveries]
            # robust: a broker hiccup must not fail the committed change; the minute schedule catches up.
            transaction.on_commit(lambda: queue.enqueue(ids), robust=True)
    return event


# --- Deliveries -------------------------------------------------------------------------------

def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential: RETRY_BASE × 2^(n−1), at most RETRY_MAX; a receiver's Retry-After is honoured
    up to RETRY_MAX."""
    delay = min(settings.ALERTS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.ALERTS_RETRY_MAX_SECONDS)
    if retry_after:
        delay = max(delay, min(retry_after, settings.ALERTS_RETRY_MAX_SECONDS))
    return delay


def delivery_claim(*, delivery_id: int) -> Delivery | None:
    """Take a due delivery for one attempt (a lease, counted as an attempt at once so a worker
    killed mid-request still shows it); None when it is not due, done, or another worker has it."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)
    claimable = (Delivery.objects.filter(id=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
                                         expires_at__gt=now)
                 .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                 .filter(Q(webhook__active=True) | Q(event__type=EventType.TEST)))
    if not claimable.update(claimed_until=lease, attempts=F("attempts") + 1, last_attempt_at=now):
        return None
    return Delivery.objects.select_related("event", "webhook").get(id=delivery_id)


@transaction.atomic
def delivery_record(*, delivery: Delivery, ok: bool, status_code: int | None, latency_ms: float, error: str = "",
                    retry_after: float | None = None) -> Delivery | None:
    """The outcome of the attempt `delivery` was claimed for: delivered, due again after the
    backoff, or failed when the next try would fall past its retry span. Only the claim's own
    attempt moves the row (a later claim after an expired lease wins). None when the webhook was
    deleted meanwhile (the row lock keeps a deletion from crossing this record)."""
    now = timezone.now()
    if not Delivery.objects.select_for_update().filter(id=delivery.id).exists():
        return None
    DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts, at=delivery.last_attempt_at or now,
                                   ok=ok, status_code=status_code, latency_ms=latency_ms, error=error[:2000])
    columns: dict[str, Any] = {"claimed_until": None, "last_status_code": status_code, "last_latency_ms": latency_ms,
                               "last_error": "" if ok else error[:2000]}
    if ok:
        columns.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
    else:
        next_at = now + timedelta(seconds=retry_delay(delivery.attempts, retry_after))
        if next_at >= delivery.expires_at:
            columns.update(status=DeliveryStatus.FAILED)
        else:
            columns.update(next_attempt_at=next_at)
    Delivery.objects.filter(id=delivery.id, status=DeliveryStatus.PENDING, attempts=delivery.attempts).update(**columns)
    return Delivery.objects.select_related("event", "webhook").get(id=delivery.id)


def deliveries_expire() -> int:
    """Pending deliveries past their retry span (their webhook switched off, say) fail."""
    now = timezone.now()
    stale = (Delivery.objects.filter(status=DeliveryStatus.PENDING, expires_at__lte=now)
             .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)))
    return stale.update(status=DeliveryStatus.FAILED, claimed_until=None,
                        last_error="not delivered within the retry span (ALERTS_RETRY_SPAN_SECONDS)")


@transaction.atomic
def delivery_retry(*, delivery: Delivery, user: Actor = None) -> Delivery:
    """Send a failed or waiting delivery again now, with a fresh retry span."""
    now = timezone.now()
    moved = (Delivery.objects.filter(id=delivery.id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED])
             .update(status=DeliveryStatus.PENDING, next_attempt_at=now,
                     expires_at=now + timedelta(seconds=settings.ALERTS_RETRY_SPAN_SECONDS)))
    if not moved:
        raise Conflict(f"delivery {delivery.id} was delivered already")
    webhook = Webhook.objects.get(id=delivery.webhook_id)
    _webhook_event(webhook, kind="retry_requested", user=user, message=f"delivery {delivery.id} sent again",
                   delivery=delivery.id, event=str(delivery.event_id))
    transaction.on_commit(lambda: queue.enqueue([delivery.id]), robust=True)
    return Delivery.objects.select_related("event", "webhook").get(id=delivery.id)


# --- Dependencies -----------------------------------------------------------------------------

@transaction.atomic
def dependency_observe(*, name: str, up: bool, detail: str = "", required: bool = False) -> str | None:
    """One probe result from the dependency watcher. Sends `dependency.down` once an outage has
    lasted ALERTS_DEPENDENCY_DOWN_SECONDS and `dependency.recovered` when it ends (if the down was
    sent). A state last seen more than that long ago is stale (nobody watched): the outage counts
    from now. Returns what it sent, if anything."""
    now = timezone.now()
    threshold = timedelta(seconds=settings.ALERTS_DEPENDENCY_DOWN_SECONDS)
    row, created = DependencyStatus.objects.select_for_update().get_or_create(
        name=name, defaults={"up": up, "since": now, "checked_at": now, "detail": detail, "required": required})
    sent = None
    if not created and (row.up != up or now - row.checked_at > max(threshold, timedelta(minutes=5))):
        if up and not row.up and row.alerted:
            down_for = (now - row.since).total_seconds()
            alert_emit(type=EventType.DEPENDENCY_RECOVERED, text=f"{name} is up again after {down_for:.0f} s down",
                       data={"dependency": name, "down_since": row.since.isoformat(), "down_seconds": down_for,
                             "required": required, "detail": detail}, links={"health": "/v1/health"})
            sent = EventType.DEPENDENCY_RECOVERED
        row.up, row.since, row.alerted = up, now, False
    if not row.up and not row.alerted and now - row.since >= threshold:
        down_for = (now - row.since).total_seconds()
        alert_emit(type=EventType.DEPENDENCY_DOWN, text=f"{name} has been down for {down_for:.0f} s: {detail}",
                   data={"dependency": name, "down_since": row.since.isoformat(), "down_seconds": down_for,
                         "required": required, "detail": detail}, links={"health": "/v1/health"})
        row.alerted, sent = True, EventType.DEPENDENCY_DOWN
    row.checked_at, row.detail, row.required = now, detail[:2000], required
    row.save()
    return sent
