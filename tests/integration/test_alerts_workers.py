"""Alerts on real django-q2 worker processes (`manage.py worker`) and a real receiver on
loopback: `manage.py inject_drift` on the bundled data produces degraded → retraining ended →
new best at the receiver; a hung receiver does not keep a degraded field from retraining; a
worker killed mid-delivery loses nothing and the receiver can drop the duplicate by its key."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest
from django.utils import timezone

from alerts import services
from alerts.models import Delivery
from performance.models import FieldMonitor, MonitorEvent
from performance.services import election
from tests.alerts.helpers import readme_verify
from tests.alerts.receiver import Receiver
from tests.factories import known_version
from tests.integration.workers import ROOT, Worker, wait_for, worker_env
from training.models import TrainingJob

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"
LOOP = {"MONITORING_ENABLED": "true", "MONITORING_INTERVAL_SECONDS": "10", "PUBLIC_BASE_URL": "http://cellwise.test"}


@pytest.fixture
def elected_field(settings, mlflow_server_uri, s3_endpoint, make_model):
    """Two models of sinr_mean with persistence-exact versions (no training needed to start),
    elected; the drift is removed afterwards."""
    settings.MLFLOW_TRACKING_URI = mlflow_server_uri
    spec = dict(input_fields=[FIELD, "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                lookback_steps=6, forecast_steps=1, hidden_size=8, epochs=2)
    models = [make_model(architecture="linear", **spec), make_model(architecture="ann", **spec)]
    for model in models:
        known_version(model)
    election.field_evaluate(field=FIELD)
    yield models
    (settings.VAR_DIR / "drift.json").unlink(missing_ok=True)


def inject_drift() -> None:
    """The command an operator runs, as its own process."""
    done = subprocess.run([sys.executable, "manage.py", "inject_drift", "sinr", "--noise", "8"], cwd=ROOT,
                          env=worker_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    FieldMonitor.objects.update(next_check_at=timezone.now())  # check it now rather than in 5 minutes


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(tmp_path, name, **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def at(payload: dict) -> datetime:
    return datetime.fromisoformat(payload["time"])


def test_inject_drift_sends_degraded_then_retraining_ended_then_new_best(elected_field, workers, receiver):
    webhook = services.webhook_create(name="local", url=receiver.url)
    inject_drift()
    worker = workers("loop", Q_WORKERS="2", **LOOP)
    wanted = {"field.degraded", "field.retraining_ended", "field.best_elected"}
    wait_for(lambda: wanted <= set(receiver.types()), timeout=400, interval=0.5,
             message=f"the three events at the receiver; got {receiver.types()}; log: {worker.log()[-3000:]}")

    first = {}
    for request in sorted(receiver.requests, key=lambda r: at(r.json)):
        first.setdefault(request.json["type"], request.json)
    degraded, ended, elected = (first[t] for t in ("field.degraded", "field.retraining_ended", "field.best_elected"))
    assert at(degraded) < at(ended) < at(elected)  # no delivery order is promised: the events' times order them
    assert degraded["field"] == FIELD and degraded["scores"]["score"] > degraded["scores"]["threshold"]
    assert degraded["links"]["field"] == f"http://cellwise.test/fields/{FIELD}/"
    assert ended["data"]["completed"] == 2 and {j["status"] for j in ended["data"]["jobs"]} == {"completed"}
    assert elected["data"]["elected_by"] == "auto_evaluate" and elected["models"][0]["version"] == 2
    verify = readme_verify()
    assert all(verify(webhook.secret, r.headers, r.body) for r in receiver.requests)
    assert len(receiver.requests) == len(receiver.unique())  # nothing sent twice


def test_a_degraded_field_with_a_hung_receiver_still_retrains_on_time(elected_field, workers):
    """One worker, a receiver that accepts and never answers, and a backlog of deliveries queued
    ahead of the monitoring tick: each attempt costs its deadline (2 s), then the loop runs."""
    hung = Receiver(default="hang")
    try:
        webhook = services.webhook_create(name="hung", url=hung.url)
        for _ in range(3):
            services.webhook_test(webhook=webhook)  # committed: three delivery tasks wait in the broker
        inject_drift()
        started = time.monotonic()
        worker = workers("hung", Q_WORKERS="1", ALERTS_WEBHOOK_TIMEOUT_SECONDS="2", **LOOP)
        wait_for(lambda: MonitorEvent.objects.filter(kind="transition", to_state="retraining").exists(), timeout=120,
                 message=f"the field to degrade; log: {worker.log()[-3000:]}")
        degraded_after = time.monotonic() - started
        wait_for(lambda: MonitorEvent.objects.filter(kind="transition", from_state="evaluating").exists(),
                 timeout=400, interval=0.5, message=f"the field re-elected; log: {worker.log()[-3000:]}")
        assert set(TrainingJob.objects.values_list("status", flat=True)) == {"completed"}
        assert FieldMonitor.objects.get(field=FIELD).state == "monitoring"
        assert len(hung.requests) >= 4  # the three tests and the degraded event at least: all reached it
        stuck = Delivery.objects.filter(event__type__in=["test", "field.degraded"])
        assert all(d.last_error == "no answer within 2 s" and d.status == "pending" for d in stuck)
        # Worker start (~5 s), three 2 s attempts and the check: well under a minute; a delivery
        # without a deadline would hold the only worker for the receiver's whole 300 s hang.
        assert degraded_after < 90, degraded_after
    finally:
        hung.stop()


def test_a_worker_killed_mid_delivery_loses_nothing(workers, receiver):
    receiver.plan = ["hang"]  # the first request never gets an answer: the worker is killed during it
    webhook = services.webhook_create(name="dedupe", url=receiver.url)
    env = {"ALERTS_WEBHOOK_TIMEOUT_SECONDS": "4", "MONITORING_ENABLED": "false"}  # the lease: 4 + 5 s
    first = workers("first", **env)
    services.webhook_test(webhook=webhook)
    wait_for(lambda: receiver.requests, timeout=60, message=f"the first attempt; log: {first.log()[-3000:]}")
    first.kill()
    row = Delivery.objects.get()
    assert (row.status, row.attempts) == ("pending", 1) and row.claimed_until > timezone.now()
    # The lease (the attempt's deadline + 5 s) keeps other workers off until the dead one's attempt is surely over.
    wait_for(lambda: Delivery.objects.get().claimed_until < timezone.now(), timeout=30, message="the lease to expire")
    second = workers("second", **env)
    wait_for(lambda: Delivery.objects.get().status == "delivered", timeout=90,
             message=f"the delivery again; log: {second.log()[-3000:]}")
    done = Delivery.objects.get()
    assert done.attempts == 2 and [a.number for a in done.history.all()] == [2]  # the killed attempt never recorded
    assert len(receiver.requests) == 2 and len(receiver.unique()) == 1  # same webhook-id: the receiver keeps one
    verify = readme_verify()
    assert all(verify(webhook.secret, r.headers, r.body) for r in receiver.requests)
