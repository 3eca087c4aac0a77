"""Delivery against real HTTP receivers on loopback: retries with exponential backoff until the
receiver answers, a receiver down for the whole retry span leaves a failed delivery on view, a
hung receiver costs one attempt's deadline, a failing receiver gets one delivery at a time, and
an expired lease (a worker that died mid-request) is sent again with the same idempotency key.
Tasks run in django-q2's sync mode; the clock is the test's."""

from __future__ import annotations

import time
from datetime import timedelta

import django_q.conf
import pytest
from django.test import Client

from alerts import delivery, services, tasks
from alerts.models import Delivery, EventType
from core.errors import Invalid
from mlops_site.metrics import render
from tests.alerts.helpers import readme_verify, send_pending
from tests.alerts.receiver import Receiver, closed_port_url

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture(autouse=True)
def sync_tasks(monkeypatch, settings):
    monkeypatch.setattr(django_q.conf.Conf, "SYNC", True)  # read once at import: settings cannot change it
    settings.ALERTS_RETRY_BASE_SECONDS = 60
    settings.ALERTS_RETRY_MAX_SECONDS = 3600
    settings.ALERTS_RETRY_SPAN_SECONDS = 3600
    settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS = 2


def emit() -> None:
    services.alert_emit(type=EventType.FIELD_DEGRADED, fields=[FIELD], text="sinr_mean degraded",
                        links={"field": f"/fields/{FIELD}/"})


def one() -> Delivery:
    return Delivery.objects.get()


def test_a_receiver_answering_500_then_200_gets_the_event_after_retries(db, clock):
    receiver = Receiver(plan=[500, 500, 200])
    try:
        webhook = services.webhook_create(name="flaky", url=receiver.url)
        emit()
        send_pending()
        first = one()
        assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
        assert first.last_error == "HTTP 500: receiver says no"
        assert first.next_attempt_at - first.last_attempt_at == timedelta(seconds=60)
        assert delivery.deliver_due()["queued"] == 0  # not due yet
        clock.advance(61)
        delivery.deliver_due()
        second = one()
        assert second.attempts == 2 and second.next_attempt_at - second.last_attempt_at == timedelta(seconds=120)
        clock.advance(121)
        delivery.deliver_due()
        done = one()
        assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("delivered", 3, 200, "")
        assert [(a.number, a.status_code, a.ok) for a in done.history.all()] == [(1, 500, False), (2, 500, False),
                                                                                 (3, 200, True)]
        assert done.last_latency_ms is not None and done.delivered_at is not None
        assert len(receiver.requests) == 3 and len(receiver.unique()) == 1  # one event, one key: dedupable
        verify = readme_verify()
        assert all(verify(webhook.secret, r.headers, r.body) for r in receiver.requests)
        assert delivery.deliver_due()["queued"] == 0 and len(receiver.requests) == 3  # delivered: never again
    finally:
        receiver.stop()


def test_a_retry_after_answer_is_honoured(db, clock):
    receiver = Receiver(plan=[(503, {"Retry-After": "900"})])
    try:
        services.webhook_create(name="busy", url=receiver.url)
        emit()
        send_pending()
        row = one()
        assert row.last_status_code == 503 and row.next_attempt_at - row.last_attempt_at == timedelta(seconds=900)
    finally:
        receiver.stop()


def test_a_receiver_down_for_the_whole_span_leaves_a_failed_delivery_on_view(user, clock, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.ALERTS_RETRY_SPAN_SECONDS = 300  # tries at 0, 60 and 180 s; the next (420 s) is past the span
    webhook = services.webhook_create(name="gone", url=closed_port_url())
    emit()
    send_pending()
    for wait in (61, 121):
        clock.advance(wait)
        delivery.deliver_due()
    failed = one()
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "ConnectError" in failed.last_error and [a.ok for a in failed.history.all()] == [False] * 3
    clock.advance(3600)
    assert delivery.deliver_due()["queued"] == 0 and one().attempts == 3  # failed stays failed

    browser = Client()
    browser.force_login(user)
    listed = browser.get(f"/v1/alerts/webhooks/{webhook.id}/deliveries", {"status": "failed"}).json()["items"]
    assert [(d["status"], d["attempts"], len(d["history"])) for d in listed] == [("failed", 3, 3)]
    page = browser.get(f"/alerts/webhooks/{webhook.id}/").content.decode()
    assert 'data-status="failed"' in page and "ConnectError" in page
    assert 'cellwise_alert_deliveries{status="failed"} 1.0' in render().decode()

    receiver = Receiver()  # the receiver is back: an operator sends it again
    try:
        services.webhook_update(webhook=webhook, url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):  # the retry's task is queued after commit
            assert browser.post(f"/v1/alerts/deliveries/{failed.id}/retry").status_code == 202
        assert one().status == "delivered" and len(receiver.requests) == 1
        assert browser.post(f"/v1/alerts/deliveries/{failed.id}/retry").status_code == 409
    finally:
        receiver.stop()


def test_a_hung_receiver_costs_one_attempt_deadline(db, clock, settings):
    settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver = Receiver(plan=["hang"])
    try:
        services.webhook_create(name="hung", url=receiver.url)
        emit()
        began = time.monotonic()
        send_pending()
        took = time.monotonic() - began
        assert len(receiver.requests) == 1  # it got the request and never answered
        row = one()
        assert row.status == "pending" and row.last_error == "no answer within 1 s" and row.last_status_code is None
        assert took < 10  # the deadline is 1 s; generous for a loaded machine, far below the receiver's 300 s hang
    finally:
        receiver.stop()


def test_a_failing_receiver_gets_one_delivery_at_a_time_then_its_backlog(db, clock):
    receiver = Receiver(plan=[500, 500, 500])
    try:
        services.webhook_create(name="backlog", url=receiver.url)
        for _ in range(3):
            emit()
        send_pending()  # each first attempt fails
        assert len(receiver.requests) == 3
        clock.advance(61)
        queued = delivery.deliver_due()  # the receiver answers again: the probe succeeds, the rest follow
        assert queued["queued"] == 1 and queued["held_back"] == 2
        assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
        assert len(receiver.requests) == 6 and len(receiver.unique()) == 3
    finally:
        receiver.stop()


def test_an_expired_lease_is_sent_again_with_the_same_key(db, clock, settings):
    """What a worker killed mid-request leaves: a claimed delivery. Nobody else takes it while the
    lease runs; afterwards it is sent again, and the receiver sees the same webhook-id twice."""
    receiver = Receiver()
    try:
        services.webhook_create(name="dedupe", url=receiver.url)
        emit()
        row = one()
        claimed = services.delivery_claim(delivery_id=row.id)
        delivery.attempt(claimed)  # sent, then the worker "dies" before recording it
        assert services.delivery_claim(delivery_id=row.id) is None  # the lease holds
        assert delivery.deliver_due()["queued"] == 0
        clock.advance(settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS + services.CLAIM_MARGIN_SECONDS + 1)
        delivery.deliver_due()
        done = one()
        assert done.status == "delivered" and done.attempts == 2
        assert len(receiver.requests) == 2 and len(receiver.unique()) == 1
        # The dead worker's attempt never recorded; a late record of it cannot undo the new one.
        services.delivery_record(delivery=claimed, ok=False, status_code=None, latency_ms=1.0, error="late")
        assert one().status == "delivered"
    finally:
        receiver.stop()


def test_pending_deliveries_of_a_switched_off_webhook_expire(db, clock, receiver, settings):
    settings.ALERTS_RETRY_SPAN_SECONDS = 600
    webhook = services.webhook_create(name="paused", url=receiver.url)
    emit()
    services.webhook_update(webhook=webhook, active=False)
    assert send_pending() == [f"delivery {one().id}: not due, done, or taken by another worker"]
    clock.advance(601)
    assert delivery.deliver_due()["expired"] == 1
    assert one().status == "failed" and "retry span" in one().last_error and receiver.requests == []
    services.webhook_test(webhook=webhook)  # a test goes out even to a switched-off webhook
    send_pending()
    assert receiver.types() == ["test"]


def test_the_task_entry_points(db, receiver):
    services.webhook_create(name="tasks", url=receiver.url)
    emit()
    assert tasks.deliver_due() == {"queued": 1, "held_back": 0, "expired": 0}
    assert one().status == "delivered" and receiver.types() == ["field.degraded"]


def test_one_event_for_several_webhooks_is_handed_over_once(db, receiver, django_capture_on_commit_callbacks):
    for name in ("a", "b", "c"):
        services.webhook_create(name=name, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        emit()
    assert len(after_commit) == 1  # one broker write for the emitting transaction, whatever the webhooks
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"} and len(receiver.requests) == 3


def test_a_webhook_deleted_during_an_attempt_ends_it_quietly(db, receiver):
    webhook = services.webhook_create(name="short-lived", url=receiver.url)
    emit()
    claimed = services.delivery_claim(delivery_id=one().id)
    outcome = delivery.attempt(claimed)
    services.webhook_delete(webhook=webhook)
    assert services.delivery_record(delivery=claimed, ok=outcome.ok, status_code=outcome.status_code,
                                    latency_ms=outcome.latency_ms) is None
    assert not Delivery.objects.exists()


def test_webhooks_never_reach_private_addresses_unless_listed(db, clock, settings):
    """A real receiver on loopback stands in for an internal service (server-side request forgery)."""
    settings.ALERTS_WEBHOOK_ALLOWED_NETWORKS = []  # production's default: nothing private
    receiver = Receiver()
    try:
        for url in (receiver.url, "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/hook",
                    "http://[::1]:9/hook", "http://[::ffff:127.0.0.1]/hook"):
            with pytest.raises(Invalid) as refused:
                services.webhook_create(name="internal", url=url)
            assert "ALERTS_WEBHOOK_ALLOWED_NETWORKS" in refused.value.message, url
        # A name is checked where it points, just before each attempt: localhost is loopback.
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        services.webhook_create(name="by-name", url=by_name)
        emit()
        send_pending()
        attempt = one()
        assert attempt.status == "pending" and attempt.last_status_code is None
        assert "localhost resolves to" in attempt.last_error and "loopback" in attempt.last_error
        assert receiver.requests == []  # nothing left the worker

        settings.ALERTS_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]  # listed: an internal receiver
        clock.advance(61)
        delivery.deliver_due()
        assert one().status == "delivered" and len(receiver.requests) == 1
    finally:
        receiver.stop()
