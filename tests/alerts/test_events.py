"""Every event type, caused by the real state changes (elections, the monitoring loop on drifting
bundled data, failed jobs, MLflow unreachable, a test event), arrives once at a real HTTP
receiver on loopback, signed so that the README's verification accepts it. And an event exists
exactly when its state change commits (the outbox)."""

from __future__ import annotations

import pytest
from django.db import transaction

from alerts import services
from alerts.models import AlertEvent, Delivery, EventType
from mlops_site import dependency_watch, health
from performance import monitoring
from performance.models import MonitorEvent
from performance.services import election
from telemetry import drift
from telemetry.sources import history_source
from tests.alerts.helpers import readme_verify, send_pending
from tests.alerts.receiver import closed_port_url
from tests.factories import known_version
from training import services as training_services
from training.models import TrainingJob

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
SPEC = dict(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6, forecast_steps=1)


@pytest.fixture
def loop_settings(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MONITORING_INTERVAL_SECONDS = 300
    settings.MONITORING_DEGRADATION_FACTOR = 1.5
    settings.PUBLIC_BASE_URL = "https://cellwise.example.net"
    settings.ALERTS_DEPENDENCY_DOWN_SECONDS = 0
    return settings


def make_worse(settings) -> None:
    source = history_source()
    drift.write(settings.VAR_DIR / "drift.json",
                [drift.Drift(kpi="sinr", since=source.now() - settings.EVALUATION_SPAN_SECONDS, noise=8.0)])


def forget_health() -> None:
    """Probe again now (health answers may be cached per process)."""
    getattr(health, "forget", lambda: None)()


def test_every_event_type_arrives_once_with_a_valid_signature(loop_settings, make_model, receiver, webhook, clock,
                                                              mlflow_server_uri):
    settings = loop_settings
    biased = make_model(**SPEC)
    known_version(biased, offset=1.0)  # always 1 dB off: worse than persistence
    election.field_evaluate(field=FIELD)  # new best (none → biased), below naive
    exact = make_model(**SPEC)
    known_version(exact, offset=0.0)  # exactly persistence
    election.field_evaluate(field=FIELD)  # new best (biased → exact)

    make_worse(settings)
    clock.advance(301)
    assert monitoring.tick()[0].action == "degraded: retraining 2"
    for job in TrainingJob.objects.filter(status="queued").select_related("model"):
        training_services.training_job_claim(job_id=job.id, worker="test:1")
        if job.model_id == biased.id:
            training_services.training_job_fail(job_id=job.id, error="CUDA? no: out of luck")
        else:
            training_services.training_job_complete(job_id=job.id, version=known_version(exact, offset=0.0),
                                                    summary={})
    clock.advance(301)
    assert monitoring.tick()[0].action.startswith("retrained: evaluating; elected")

    settings.MLFLOW_TRACKING_URI = closed_port_url()
    forget_health()
    assert "mlflow: down (dependency.down sent)" in dependency_watch.watch()
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    clock.advance(61)
    forget_health()
    assert "mlflow: up (dependency.recovered sent)" in dependency_watch.watch()
    services.webhook_test(webhook=webhook)

    send_pending()
    events = {str(e.id): e for e in AlertEvent.objects.all()}
    assert set(receiver.types()) == set(EventType.values)  # every type, each caused by the real change
    assert len(receiver.requests) == len(receiver.unique()) == len(events)  # each event once
    assert Delivery.objects.filter(status="delivered").count() == len(events)
    verify = readme_verify()
    for request in receiver.requests:
        payload = request.json
        assert verify(webhook.secret, request.headers, request.body), payload["type"]
        assert not verify(webhook.secret, request.headers, request.body + b" ")  # a changed body fails
        assert payload["id"] == request.key and payload["type"] == events[request.key].type
        assert request.headers["x-cellwise-event"] == payload["type"]
        assert {"type", "id", "time", "field", "models", "scores", "links", "text"} <= set(payload)
        assert all(url.startswith("https://cellwise.example.net/") for url in payload["links"].values())

    by_type = {}
    for request in receiver.requests:
        by_type.setdefault(request.json["type"], []).append(request.json)
    degraded = by_type["field.degraded"][0]
    check = MonitorEvent.objects.get(kind="check", to_state="")
    assert degraded["field"] == FIELD and degraded["scores"]["score"] == pytest.approx(check.score)
    assert degraded["scores"]["threshold"] == pytest.approx(check.threshold)
    assert {m["name"] for m in degraded["models"] if m["role"] == "retraining"} == {biased.name, exact.name}
    assert degraded["links"]["field"] == f"https://cellwise.example.net/fields/{FIELD}/"
    ended = by_type["field.retraining_ended"][0]
    assert {(j["model_name"], j["status"]) for j in ended["data"]["jobs"]} == {(biased.name, "failed"),
                                                                               (exact.name, "completed")}
    elections = [(e["data"]["elected_by"], [m["name"] for m in e["models"]]) for e in by_type["field.best_elected"]]
    assert elections[0] == ("evaluate", [biased.name]) and elections[1] == ("evaluate", [exact.name, biased.name])
    assert elections[2][0] == "auto_evaluate"  # the loop's election after retraining (exact v2)
    assert by_type["field.below_naive_changed"][0]["data"]["below_naive"] is True
    assert "out of luck" in by_type["job.failed"][0]["data"]["error"]
    assert by_type["dependency.down"][0]["data"]["dependency"] == "mlflow"


def test_an_event_exists_only_if_its_state_change_commits(make_model, webhook, django_capture_on_commit_callbacks):
    """The outbox: the event and its delivery are written by the state change's own transaction,
    and handed to a worker only after it commits."""
    job = training_services.training_job_create(model=make_model(**SPEC))
    training_services.training_job_claim(job_id=job.id, worker="test:1")
    with django_capture_on_commit_callbacks() as queued:
        with pytest.raises(RuntimeError), transaction.atomic():
            assert training_services.training_job_fail(job_id=job.id, error="boom")
            assert AlertEvent.objects.filter(type="job.failed").exists()  # inside the same transaction
            raise RuntimeError("the caller's transaction fails after the change")
    assert TrainingJob.objects.get(id=job.id).status == "running"
    assert not AlertEvent.objects.filter(type="job.failed").exists() and not Delivery.objects.exists()
    assert queued == []  # nothing handed to a worker

    with django_capture_on_commit_callbacks() as queued:
        assert training_services.training_job_fail(job_id=job.id, error="boom")
    delivery = Delivery.objects.get()
    assert delivery.event.type == "job.failed" and delivery.status == "pending" and len(queued) == 1


def test_webhooks_get_only_the_types_and_fields_they_want(db, receiver):
    everything = services.webhook_create(name="all", url=receiver.url)
    degraded_only = services.webhook_create(name="degraded", url=receiver.url, event_types=["field.degraded"])
    cqi_only = services.webhook_create(name="cqi", url=receiver.url, fields=["cqi_mean"])
    services.webhook_create(name="off", url=receiver.url, active=False)
    services.alert_emit(type=EventType.FIELD_DEGRADED, fields=[FIELD], text="sinr degraded")
    services.alert_emit(type=EventType.JOB_FAILED, fields=["cqi_mean"], text="a cqi job failed")
    services.alert_emit(type=EventType.DEPENDENCY_DOWN, text="mlflow down")  # about no field: passes field filters
    got = {(d.webhook.name, d.event.type) for d in Delivery.objects.select_related("webhook", "event")}
    assert got == {("all", "field.degraded"), ("all", "job.failed"), ("all", "dependency.down"),
                   ("degraded", "field.degraded"), ("cqi", "job.failed"), ("cqi", "dependency.down")}
    assert everything.wants("field.degraded", []) and not degraded_only.wants("job.failed", [])
    assert not cqi_only.wants("field.degraded", [FIELD])


def test_slack_format_sends_only_text_with_slack_links(db, receiver, settings):
    settings.PUBLIC_BASE_URL = "https://cw.example"
    services.webhook_create(name="slack", url=receiver.url, format="slack")
    services.alert_emit(type=EventType.FIELD_DEGRADED, fields=[FIELD], text="sinr_mean degraded",
                        links={"field": f"/fields/{FIELD}/"}, scores={"score": float("nan")})
    send_pending()
    (request,) = receiver.requests
    assert request.json == {"text": f"*cellwise* `field.degraded`: sinr_mean degraded\n"
                                    f"<https://cw.example/fields/{FIELD}/|field>"}
    assert AlertEvent.objects.get().payload["scores"] == {"score": None}  # NaN is not JSON
