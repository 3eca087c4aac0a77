"""Admin screens: webhooks (created and changed through the services, with a "send test event"
action), the events, the delivery log with each attempt (and a retry action), the audit rows
and the dependency watcher's view."""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages

from access.admin import ReadOnlyAdmin
from access.feedback import call_service
from alerts import services
from alerts.models import AlertEvent, Delivery, DeliveryAttempt, DependencyStatus, Webhook, WebhookEvent
from core.errors import DomainError


class WebhookAdminForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=[(t, t) for t in services.SUBSCRIBABLE], required=False,
                                            widget=forms.CheckboxSelectMultiple, help_text="none ticked: every type")
    kpi_fields = forms.CharField(required=False, label="Fields",
                                 help_text="KPI fields, comma-separated; empty: every field")
    secret = forms.CharField(required=False, max_length=200,
                             help_text="empty: generated for a new webhook, kept for an existing one")

    class Meta:
        model = Webhook
        fields = ["name", "url", "format", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["kpi_fields"] = ", ".join(self.instance.fields)
            self.initial["event_types"] = self.instance.event_types
            self.initial["secret"] = ""

    def clean_kpi_fields(self):
        return [f.strip() for f in self.cleaned_data["kpi_fields"].split(",") if f.strip()]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        try:
            services.webhook_check(webhook_id=self.instance.pk, name=data["name"], url=data["url"],
                                   secret=data.get("secret") or None, event_types=data["event_types"],
                                   fields=data["kpi_fields"], format=data["format"])
        except DomainError as error:
            raise forms.ValidationError(error.message) from error
        return data

    def _post_clean(self):
        pass  # the services write the row; the model instance is not filled from the form


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookAdminForm
    list_display = ("name", "url", "format", "types", "field_list", "active", "updated_at")
    list_filter = ("active", "format")
    search_fields = ("name", "url")
    actions = ["send_test_event"]

    def get_fields(self, request, obj=None):
        return ["name", "url", "format", "event_types", "kpi_fields", "secret", "active"]

    @admin.display(description="events")
    def types(self, webhook):
        return ", ".join(webhook.event_types) or "all"

    @admin.display(description="fields")
    def field_list(self, webhook):
        return ", ".join(webhook.fields) or "all"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        values = {k: data[k] for k in ("name", "url", "event_types", "format", "active")}
        values["fields"] = data["kpi_fields"]
        if change:
            saved = services.webhook_update(webhook=obj, user=request.user, secret=data.get("secret") or None, **values)
        else:
            saved = services.webhook_create(user=request.user, secret=data.get("secret") or None, **values)
        for column in Webhook._meta.concrete_fields:
            setattr(obj, column.attname, getattr(saved, column.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def save_related(self, request, form, formsets, change):
        pass

    def delete_model(self, request, obj):
        services.webhook_delete(webhook=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for webhook in queryset:
            self.delete_model(request, webhook)

    def get_deleted_objects(self, objs, request):
        # The delivery log goes with its webhook through the service; its read-only admin must not block it.
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    @admin.action(description="Send a test event to the selected webhooks")
    def send_test_event(self, request, queryset):
        for webhook in queryset:
            services.webhook_test(webhook=webhook, user=request.user)
            self.message_user(request, f"test event queued for {webhook.name}", messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "ok", "status_code", "latency_ms", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: one row per event and webhook, with every attempt."""

    list_display = ("created_at", "webhook", "event_type", "status", "attempts", "last_status_code",
                    "last_latency_ms", "last_error", "next_attempt_at")
    list_filter = ("status", "webhook", "event__type")
    list_select_related = ("webhook", "event")
    search_fields = ("event__id", "webhook__name", "last_error")
    inlines = [AttemptInline]
    actions = ["retry_now"]

    @admin.display(description="event")
    def event_type(self, delivery):
        return delivery.event.type

    @admin.action(description="Send the selected deliveries again now")
    def retry_now(self, request, queryset):
        for delivery in queryset:
            call_service(request, partial(services.delivery_retry, delivery=delivery, user=request.user),
                         success=f"delivery {delivery.id} queued again", error_level=messages.WARNING)


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "type", "fields", "text")
    list_filter = ("type",)
    search_fields = ("id", "text")
    date_hierarchy = "at"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "webhook_name", "kind", "actor", "message")
    list_filter = ("kind",)


@admin.register(DependencyStatus)
class DependencyStatusAdmin(ReadOnlyAdmin):
    list_display = ("name", "up", "since", "alerted", "required", "checked_at", "detail")

