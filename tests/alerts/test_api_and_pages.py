"""Webhooks managed through /v1/alerts, the Alerts pages and the admin: operators change them,
viewers read them without the secret or the URL's path, bad input gets a JSON error naming it,
and every change leaves an audit row."""

from __future__ import annotations

import pytest
from django.test import Client

from alerts import services
from alerts.models import AlertEvent, Delivery, Webhook, WebhookEvent

pytestmark = pytest.mark.django_db
SLACK = "https://hooks.slack.com/services/T000/B000/secretpart"


def logged_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_operators_create_change_test_and_delete_webhooks(api):
    created = api.post("/alerts/webhooks", {"name": "ops slack", "url": SLACK, "format": "slack",
                                            "event_types": ["field.degraded", "job.failed"],
                                            "fields": ["sinr_mean"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["url"] == SLACK and body["format"] == "slack"
    assert body["event_types"] == ["field.degraded", "job.failed"] and body["deliveries"] == {
        "pending": 0, "delivered": 0, "failed": 0}
    hook = f"/alerts/webhooks/{body['id']}"

    patched = api.client.patch(f"/v1{hook}", '{"active": false, "rotate_secret": true}',
                               content_type="application/json", headers=api._headers())
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert patched.json()["secret"] != body["secret"] and patched.json()["name"] == "ops slack"  # the rest kept

    tested = api.post(f"{hook}/test")
    assert tested.status_code == 202 and tested.json()["type"] == "test" and tested.json()["deliveries"] == 1
    log = api.get(f"{hook}/deliveries").json()
    assert log["count"] == 1 and log["items"][0]["event_type"] == "test" and log["items"][0]["status"] == "pending"
    assert api.get("/alerts/events", type="test").json()["count"] == 1

    assert api.delete(hook).status_code == 204
    assert api.get(hook).status_code == 404 and not Delivery.objects.exists()
    assert AlertEvent.objects.filter(type="test").exists()  # events outlive their webhooks
    assert list(WebhookEvent.objects.values_list("kind", flat=True)) == ["created", "updated", "test_sent", "deleted"]


def test_bad_input_is_a_json_error_naming_the_problem(api):
    cases = [
        ({"name": "a", "url": "ftp://example.org/x"}, 422, "http:// or https://"),
        ({"name": "a", "url": "http://exa mple.org/"}, 422, "without spaces"),
        ({"name": "a", "url": "http://example.org:99999/"}, 422, "not a valid URL"),
        ({"name": "a", "url": "http://example.org/", "event_types": ["field.exploded"]}, 422, "event_types"),
        ({"name": "a", "url": "http://example.org/", "event_types": ["test"]}, 422, "event_types"),
        ({"name": "a", "url": "http://example.org/", "secret": "whsec_***not base64***"}, 422, "base64"),
        ({"name": "a", "url": "http://example.org/", "fields": ["sinr mean"]}, 422, "fields"),
        ({"name": "", "url": "http://example.org/"}, 422, "name"),
    ]
    for body, status, words in cases:
        response = api.post("/alerts/webhooks", body)
        assert response.status_code == status and words in response.json()["detail"], (body, response.content)
    assert api.post("/alerts/webhooks", {"name": "a", "url": "http://receiver:9000/hook"}).status_code == 201
    taken = api.post("/alerts/webhooks", {"name": "a", "url": "http://example.org/"})
    assert taken.status_code == 409 and "exists already" in taken.json()["detail"]
    assert api.get("/alerts/webhooks/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.post("/alerts/deliveries/12345/retry").status_code == 404
    assert Webhook.objects.count() == 1


def test_viewers_read_without_secrets_and_change_nothing(viewer_api, anonymous_api):
    webhook = services.webhook_create(name="slack", url=SLACK)
    listed = viewer_api.get("/alerts/webhooks").json()["items"]
    assert listed[0]["url"] == "https://hooks.slack.com/…" and listed[0]["secret"] is None
    assert viewer_api.post("/alerts/webhooks", {"name": "b", "url": "http://example.org/"}).status_code == 403
    assert viewer_api.post(f"/alerts/webhooks/{webhook.id}/test").status_code == 403
    assert viewer_api.delete(f"/alerts/webhooks/{webhook.id}").status_code == 403
    assert anonymous_api.get("/alerts/webhooks").status_code == 401
    assert Webhook.objects.count() == 1 and not AlertEvent.objects.exists()


def test_the_alerts_page_for_operators_and_viewers(user, viewer):
    operator = logged_in(user)
    created = operator.post("/alerts/webhooks/new/", {"name": "page hook", "url": SLACK, "format": "json",
                                                      "event_types": ["field.degraded"], "kpi_fields": "sinr_mean",
                                                      "active": "on"})
    webhook = Webhook.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/alerts/webhooks/{webhook.id}/"
    assert (webhook.event_types, webhook.fields, webhook.active) == (["field.degraded"], ["sinr_mean"], True)
    bad = operator.post("/alerts/webhooks/new/", {"name": "x", "url": "nope", "format": "json"})
    assert bad.status_code == 200 and "http:// or https://" in bad.content.decode()

    page = operator.get(f"/alerts/webhooks/{webhook.id}/").content.decode()
    assert webhook.secret in page and "Send test event" in page and SLACK in page
    assert operator.post(f"/alerts/webhooks/{webhook.id}/test/").status_code == 302
    assert Delivery.objects.get().event.type == "test"
    assert "test" in operator.get(f"/alerts/webhooks/{webhook.id}/").content.decode()
    edited = operator.post(f"/alerts/webhooks/{webhook.id}/edit/", {"name": "page hook", "url": SLACK,
                                                                    "format": "slack", "kpi_fields": ""})
    assert edited.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.format, webhook.fields, webhook.active, webhook.event_types) == ("slack", [], False, [])

    reader = logged_in(viewer)
    for path in ("/alerts/", f"/alerts/webhooks/{webhook.id}/"):
        shown = reader.get(path).content.decode()
        assert "page hook" in shown and webhook.secret not in shown and "secretpart" not in shown
        assert "Send test event" not in shown and "Create webhook" not in shown
    for action in ("/alerts/webhooks/new/", f"/alerts/webhooks/{webhook.id}/edit/",
                   f"/alerts/webhooks/{webhook.id}/test/", f"/alerts/webhooks/{webhook.id}/delete/",
                   f"/alerts/deliveries/{Delivery.objects.get().id}/retry/"):
        assert reader.post(action).status_code == 403, action
    assert operator.post(f"/alerts/webhooks/{webhook.id}/delete/").status_code == 302
    assert not Webhook.objects.exists()


def test_the_admin_creates_through_the_service_and_sends_a_test(admin_client):
    added = admin_client.post("/admin/alerts/webhook/add/", {"name": "admin hook", "url": "http://example.org/h",
                                                             "format": "json", "kpi_fields": "sinr_mean, cqi_mean",
                                                             "secret": "", "active": "on"})
    assert added.status_code == 302, added.content.decode()[:2000]
    webhook = Webhook.objects.get()
    assert webhook.fields == ["cqi_mean", "sinr_mean"] and webhook.secret.startswith("whsec_")
    assert WebhookEvent.objects.get().kind == "created"
    refused = admin_client.post("/admin/alerts/webhook/add/", {"name": "other", "url": "gopher://x", "format": "json"})
    assert refused.status_code == 200 and Webhook.objects.count() == 1
    admin_client.post("/admin/alerts/webhook/", {"action": "send_test_event", "_selected_action": [webhook.id]})
    assert Delivery.objects.get().event.type == "test"
    for path in ("/admin/alerts/webhook/", f"/admin/alerts/webhook/{webhook.id}/change/", "/admin/alerts/delivery/",
                 f"/admin/alerts/delivery/{Delivery.objects.get().id}/change/", "/admin/alerts/alertevent/",
                 "/admin/alerts/dependencystatus/", "/admin/alerts/webhookevent/"):
        assert admin_client.get(path).status_code == 200, path
