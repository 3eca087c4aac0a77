"""Operator pages for alerts: the webhooks with a create form, the events sent and what the
dependency watcher sees; one webhook's page with its settings, a test event and its delivery log."""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.feedback import call_service
from access.roles import is_operator, operator_required
from alerts import selectors, services
from alerts.links import origin
from alerts.models import EventType, Format
from core.errors import DomainError, NotFound


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=2000, label="URL", help_text="any HTTP endpoint, or a Slack incoming webhook")
    format = forms.ChoiceField(choices=Format.choices, initial=Format.JSON)
    event_types = forms.MultipleChoiceField(
        choices=[(t, f"{t}: {EventType(t).label}") for t in services.SUBSCRIBABLE], required=False,
        widget=forms.CheckboxSelectMultiple, label="Event types", help_text="none ticked: every type")
    kpi_fields = forms.CharField(required=False, label="KPI fields", help_text="comma-separated; empty: every field")
    secret = forms.CharField(required=False, max_length=200, help_text="empty: generated (whsec_…)")
    active = forms.BooleanField(required=False, initial=True)

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["fields"] = [f.strip() for f in data.pop("kpi_fields").split(",") if f.strip()]
        data["secret"] = data["secret"].strip() or None
        return data


class WebhookEditForm(WebhookForm):
    rotate_secret = forms.BooleanField(required=False, label="Rotate the secret")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["secret"].help_text = "empty: keep the current one"


def _webhook_or_404(webhook_id):
    try:
        return selectors.webhook_get(webhook_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _shown(webhook, operator: bool):
    webhook.shown_url = webhook.url if operator else origin(webhook.url)
    return webhook


@login_required
def alerts_page(request, form: WebhookForm | None = None):
    operator = is_operator(request.user)
    return render(request, "alerts/alerts.html", {
        "webhooks": [_shown(w, operator) for w in selectors.webhook_list()],
        "events": list(selectors.events()[:50]), "dependencies": selectors.dependency_statuses(),
        "form": form or WebhookForm(), "counts": selectors.delivery_counts(),
    })


@require_POST
@operator_required
def webhook_new(request):
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            webhook = services.webhook_create(**form.values(), user=request.user)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"webhook {webhook.name} created; send it a test event to check it")
            return redirect("alerts-webhook", webhook_id=webhook.id)
    return alerts_page(request, form=form)


@login_required
def webhook_page(request, webhook_id, form: WebhookEditForm | None = None):
    webhook = _shown(_webhook_or_404(webhook_id), is_operator(request.user))
    initial = {"name": webhook.name, "url": webhook.url, "format": webhook.format, "event_types": webhook.event_types,
               "kpi_fields": ", ".join(webhook.fields), "active": webhook.active}
    return render(request, "alerts/webhook.html", {
        "webhook": webhook, "form": form or WebhookEditForm(initial=initial),
        "deliveries": list(selectors.deliveries(webhook_id=webhook.id)[:100]),
    })


@require_POST
@operator_required
def webhook_edit(request, webhook_id):
    webhook = _webhook_or_404(webhook_id)
    form = WebhookEditForm(request.POST)
    if form.is_valid():
        values = form.values()
        rotate = values.pop("rotate_secret")
        try:
            services.webhook_update(webhook=webhook, user=request.user, rotate_secret=rotate, **values)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "webhook saved")
            return redirect("alerts-webhook", webhook_id=webhook.id)
    return webhook_page(request, webhook_id, form=form)


@require_POST
@operator_required
def webhook_test(request, webhook_id):
    webhook = _webhook_or_404(webhook_id)
    services.webhook_test(webhook=webhook, user=request.user)
    messages.success(request, "test event queued; its delivery appears below")
    return redirect("alerts-webhook", webhook_id=webhook.id)


@require_POST
@operator_required
def webhook_delete(request, webhook_id):
    webhook = _webhook_or_404(webhook_id)
    services.webhook_delete(webhook=webhook, user=request.user)
    messages.success(request, f"webhook {webhook.name} deleted")
    return redirect("alerts")


@require_POST
@operator_required
def delivery_retry(request, delivery_id: int):
    try:
        delivery = selectors.delivery_get(delivery_id)
    except NotFound as error:
        raise Http404(error.message) from error
    if not call_service(request, partial(services.delivery_retry, delivery=delivery, user=request.user),
                        success=f"delivery {delivery_id} queued again"):
        return redirect("alerts")
    return redirect("alerts-webhook", webhook_id=delivery.webhook_id)
