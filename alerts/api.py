"""/v1/alerts: webhooks (operators change them; reads follow the API's read rule), their
delivery logs, a test event, a retry, and the events sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema, Status

from access.auth import READ_AUTH, WRITE_AUTH, caller
from access.paging import Page, PageParams, page_of
from access.responses import errors
from access.roles import is_operator
from alerts import selectors, services
from alerts.links import origin
from alerts.models import AlertEvent, Delivery, DeliveryStatus, EventType, Format, Webhook
from core.errors import FIELD_NAME_PATTERN

router = Router(tags=["alerts"])
FieldName = Annotated[str, Field(pattern=FIELD_NAME_PATTERN)]
# Literals built from the choices at run time (the schema lists them); mypy sees plain strings.
if TYPE_CHECKING:
    EventTypeName = str
    FormatName = str
    DeliveryStatusName = str
    EventTypeValue = str
else:
    EventTypeName = Literal[tuple(services.SUBSCRIBABLE)]
    FormatName = Literal[tuple(Format.values)]
    DeliveryStatusName = Literal[tuple(DeliveryStatus.values)]
    EventTypeValue = Literal[tuple(EventType.values)]
TYPES_HELP = "; ".join(f"{t}: {EventType(t).label}" for t in services.SUBSCRIBABLE)


class WebhookIn(Schema):
    name: str = Field(pattern=services.NAME_PATTERN, description="unique; 1-100 letters, digits, spaces, _ . -")
    url: str = Field(min_length=1, max_length=2000, description="the http(s) endpoint that receives the POSTs")
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="signs the deliveries; generated (whsec_…) when omitted")
    event_types: list[EventTypeName] = Field([], max_length=len(services.SUBSCRIBABLE),
                                             description=f"none: every type. {TYPES_HELP}")
    fields: list[FieldName] = Field([], max_length=services.MAX_FIELDS, description="KPI fields; none: every field")
    format: FormatName = Field("json", description="json: the whole event; slack: {\"text\": …} only")
    active: bool = True


class WebhookPatch(Schema):
    name: str | None = Field(None, pattern=services.NAME_PATTERN)
    url: str | None = Field(None, min_length=1, max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=200)
    rotate_secret: bool = Field(False, description="replace the secret with a new generated one")
    event_types: list[EventTypeName] | None = Field(None, max_length=len(services.SUBSCRIBABLE))
    fields: list[FieldName] | None = Field(None, max_length=services.MAX_FIELDS)
    format: FormatName | None = None
    active: bool | None = None


class WebhookOut(Schema):
    id: uuid.UUID
    name: str
    url: str = Field(description="operators see all of it; others only its origin (URLs such as Slack's hold a "
                                 "secret)")
    secret: str | None = Field(description="operators only")
    event_types: list[str]
    fields: list[str]
    format: str
    active: bool
    deliveries: dict[str, int] = Field(description="deliveries by status: pending, delivered, failed")
    created_at: datetime
    updated_at: datetime


def webhook_out(webhook: Webhook, operator: bool) -> dict[str, Any]:
    return {
        "id": webhook.id, "name": webhook.name, "url": webhook.url if operator else origin(webhook.url),
        "secret": webhook.secret if operator else None, "event_types": webhook.event_types,
        "fields": webhook.fields, "format": webhook.format, "active": webhook.active,
        "deliveries": {s: getattr(webhook, f"n_{s}", 0) for s in DeliveryStatus.values},
        "created_at": webhook.created_at, "updated_at": webhook.updated_at,
    }


class AttemptOut(Schema):
    number: int
    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str


class DeliveryOut(Schema):
    id: int
    webhook_id: uuid.UUID
    event_id: uuid.UUID = Field(description="the idempotency key: sent as webhook-id on every attempt")
    event_type: str
    event_time: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    expires_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: float | None
    last_error: str
    delivered_at: datetime | None
    history: list[AttemptOut] = Field(description="every attempt that finished")


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id, "webhook_id": delivery.webhook_id, "event_id": delivery.event_id,
        "event_type": delivery.event.type, "event_time": delivery.event.at, "status": delivery.status,
        "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at, "expires_at": delivery.expires_at,
        "last_attempt_at": delivery.last_attempt_at, "last_status_code": delivery.last_status_code,
        "last_latency_ms": delivery.last_latency_ms, "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
        "history": [{"number": a.number, "at": a.at, "ok": a.ok, "status_code": a.status_code,
                     "latency_ms": a.latency_ms, "error": a.error} for a in delivery.history.all()],
    }


class EventOut(Schema):
    id: uuid.UUID
    type: str
    time: datetime
    fields: list[str]
    text: str
    deliveries: int
    failed: int
    payload: dict[str, Any] = Field(description="what a json-format webhook receives")


def event_out(event: AlertEvent) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "time": event.at, "fields": event.fields, "text": event.text,
            "deliveries": getattr(event, "n_deliveries", 0), "failed": getattr(event, "n_failed", 0),
            "payload": event.payload}


@router.get("/webhooks", response={200: Page[WebhookOut], **errors(401, 422, 503)}, auth=READ_AUTH)
def list_webhooks(request, paging: Query[PageParams]):
    """By name."""
    page = page_of(selectors.webhook_list(), paging)
    operator = is_operator(caller(request))
    page["items"] = [webhook_out(w, operator) for w in page["items"]]
    return page


@router.post("/webhooks", response={201: WebhookOut, **errors(400, 401, 403, 409, 422, 503)}, auth=WRITE_AUTH)
def create_webhook(request, body: WebhookIn):
    """409 when the name is taken, 422 names what is wrong (the URL, an unknown event type)."""
    webhook = services.webhook_create(**body.dict(), user=caller(request))
    return Status(201, webhook_out(selectors.webhook_get(webhook.id), True))


@router.get("/webhooks/{webhook_id}", response={200: WebhookOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def get_webhook(request, webhook_id: uuid.UUID):
    return webhook_out(selectors.webhook_get(webhook_id), is_operator(caller(request)))


@router.patch("/webhooks/{webhook_id}", response={200: WebhookOut, **errors(400, 401, 403, 404, 409, 422, 503)},
              auth=WRITE_AUTH)
def update_webhook(request, webhook_id: uuid.UUID, body: WebhookPatch):
    """Only the given properties change."""
    changes = body.dict(exclude_unset=True)
    rotate = changes.pop("rotate_secret", False)
    webhook = services.webhook_update(webhook=selectors.webhook_get(webhook_id), user=caller(request),
                                      rotate_secret=rotate, **changes)
    return webhook_out(selectors.webhook_get(webhook.id), True)


@router.delete("/webhooks/{webhook_id}", response={204: None, **errors(401, 403, 404, 422, 503)}, auth=WRITE_AUTH)
def delete_webhook(request, webhook_id: uuid.UUID):
    services.webhook_delete(webhook=selectors.webhook_get(webhook_id), user=caller(request))
    return HttpResponse(status=204)


@router.post("/webhooks/{webhook_id}/test", response={202: EventOut, **errors(401, 403, 404, 422, 503)},
             auth=WRITE_AUTH)
def send_test_event(request, webhook_id: uuid.UUID):
    """Queues a `test` event for this webhook only; its delivery shows in the log."""
    event = services.webhook_test(webhook=selectors.webhook_get(webhook_id), user=caller(request))
    return Status(202, event_out(selectors.events().get(id=event.id)))


class DeliveryFilters(Schema):
    status: DeliveryStatusName | None = Field(None, description="pending, delivered or failed")


@router.get("/webhooks/{webhook_id}/deliveries", response={200: Page[DeliveryOut], **errors(401, 404, 422, 503)},
            auth=READ_AUTH)
def list_deliveries(request, webhook_id: uuid.UUID, filters: Query[DeliveryFilters], paging: Query[PageParams]):
    """The delivery log, newest first, each with its attempts."""
    webhook = selectors.webhook_get(webhook_id)
    page = page_of(selectors.deliveries(webhook_id=webhook.id, status=filters.status), paging)
    page["items"] = [delivery_out(d) for d in page["items"]]
    return page


@router.post("/deliveries/{delivery_id}/retry", response={202: DeliveryOut, **errors(401, 403, 404, 409, 422, 503)},
             auth=WRITE_AUTH)
def retry_delivery(request, delivery_id: int = Path(..., ge=1, le=2**63 - 1)):
    """Send a failed (or waiting) delivery again now, with a fresh retry span; 409 if delivered."""
    delivery = services.delivery_retry(delivery=selectors.delivery_get(delivery_id), user=caller(request))
    return Status(202, delivery_out(selectors.delivery_get(delivery.id)))


class EventFilters(Schema):
    type: EventTypeValue | None = None


@router.get("/events", response={200: Page[EventOut], **errors(401, 422, 503)}, auth=READ_AUTH)
def list_events(request, filters: Query[EventFilters], paging: Query[PageParams]):
    """Events sent (or recorded with no webhook to send them to), newest first."""
    page = page_of(selectors.events(type=filters.type), paging)
    page["items"] = [event_out(e) for e in page["items"]]
    return page
