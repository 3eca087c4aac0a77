"""Webhook endpoints, the events they may receive, each event's deliveries and their attempts,
and what the dependency watcher last saw."""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from core.events import Event


class EventType(models.TextChoices):
    FIELD_DEGRADED = "field.degraded", "a field's best degraded: monitoring → retraining"
    RETRAINING_ENDED = "field.retraining_ended", "every retraining job of a degraded field ended"
    BEST_ELECTED = "field.best_elected", "a field has a new best model (or version)"
    BELOW_NAIVE_CHANGED = "field.below_naive_changed", "a field's best started or stopped losing to a naive forecaster"
    JOB_FAILED = "job.failed", "a training job failed"
    DEPENDENCY_DOWN = "dependency.down", "a dependency has been down for longer than ALERTS_DEPENDENCY_DOWN_SECONDS"
    DEPENDENCY_RECOVERED = "dependency.recovered", "a dependency reported down is up again"
    TEST = "test", "sent by 'send test event', to one webhook only"


class Format(models.TextChoices):
    JSON = "json", "JSON: the whole event (with a `text` summary)"
    SLACK = "slack", "Slack-compatible: {\"text\": …} only"


class Webhook(models.Model):
    """An HTTP endpoint that receives events. Empty `event_types` or `fields` mean all of them;
    an event about no field (a dependency, a test) passes any field filter."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=2000)
    secret = models.CharField(max_length=200, help_text="signs every delivery (Standard Webhooks, HMAC-SHA256)")
    event_types = models.JSONField(default=list, blank=True, help_text="empty: every type")
    fields = models.JSONField(default=list, blank=True, help_text="KPI fields; empty: every field")
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    active = models.BooleanField(default=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str, fields: list[str]) -> bool:
        if self.event_types and event_type not in self.event_types:
            return False
        return not (self.fields and fields) or bool(set(self.fields) & set(fields))


class AlertEvent(models.Model):
    """One event, written in the transaction of the state change that caused it. Its id is the
    idempotency key receivers see as `webhook-id`; `payload` is what they receive (as JSON)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices, db_index=True)
    at = models.DateTimeField(db_index=True)
    fields = models.JSONField(default=list, blank=True)
    text = models.TextField()
    payload = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.type}: {self.text[:80]}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(models.Model):
    """One event to one webhook: the outbox row, then the delivery log. Written only by
    `alerts.services`; claimed by a lease, so a worker killed mid-request leaves it to be sent again."""

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="started attempts (a killed one counts)")
    next_attempt_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(help_text="failed if not delivered by then (ALERTS_RETRY_SPAN_SECONDS)")
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="an attempt is under way until then")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "webhook"], name="alerts_delivery_once_per_webhook")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event_id} → {self.webhook_id}: {self.status}"


class DeliveryAttempt(models.Model):
    """Append-only: one HTTP attempt of a delivery and how it went."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="history")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error[:40]}"


class WebhookEvent(Event):
    """Audit row for a webhook: created, changed, secret rotated, deleted, test sent."""

    webhook_id = models.UUIDField(db_index=True)
    webhook_name = models.CharField(max_length=100)


class DependencyStatus(models.Model):
    """The dependency watcher's persisted view of one /v1/health dependency: up or down since
    when, and whether `dependency.down` was sent for the current outage."""

    name = models.CharField(max_length=64, unique=True)
    up = models.BooleanField()
    since = models.DateTimeField(help_text="when it was first seen in its current state")
    alerted = models.BooleanField(default=False, help_text="dependency.down was sent for this outage")
    required = models.BooleanField(default=False)
    detail = models.TextField(blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "dependency statuses"

    def __str__(self) -> str:
        return f"{self.name}: {'up' if self.up else 'down'} since {self.since:%Y-%m-%d %H:%M:%S}"
