"""The models storage failing under inference and evaluation, against real S3 servers: a private
moto server that is stopped (connections refused), a listener that accepts and never answers
(hung), and an object deleted from the session's real bucket. Nothing in cellwise is patched.

Every answer must be JSON: 503 naming the models storage within the configured bounds when it
is down, and a verdict on the version (unusable, scored null, not served) when its bundle is gone.
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from django.conf import settings as django_settings

from inference import cache
from performance import monitoring
from performance.models import FieldMonitor, MonitorState
from performance.services import monitors
from registry.models import ModelEvent, ModelVersion
from tests.factories import known_version
from tests.integration.processes import moto
from tests.integration.silent_server import SilentServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIELD = "sinr_mean"
CELL = 11016973  # its latest 12 windows of 10 s are complete


def point_models_storage_at(settings, endpoint: str) -> None:
    """The models storage at another S3 endpoint, with the timeouts the settings configure."""
    options = dict(django_settings.STORAGES["models"]["OPTIONS"], endpoint_url=endpoint, client_config=Config(
        connect_timeout=settings.MODEL_STORAGE_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.MODEL_STORAGE_READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": settings.MODEL_STORAGE_MAX_ATTEMPTS, "mode": "standard"}))
    settings.STORAGES = {**settings.STORAGES, "models": {**settings.STORAGES["models"], "OPTIONS": options}}


def bound_seconds(settings) -> float:
    """What the settings promise for one failed read, with room for a loaded machine."""
    per_attempt = settings.MODEL_STORAGE_CONNECT_TIMEOUT_SECONDS + settings.MODEL_STORAGE_READ_TIMEOUT_SECONDS
    return settings.MODEL_STORAGE_MAX_ATTEMPTS * per_attempt * 2 + 5


def spec(**overrides) -> dict:
    return dict(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                lookback_steps=12, forecast_steps=3, **overrides)


def timed(call):
    began = time.monotonic()
    response = call()
    return response, time.monotonic() - began


def assert_storage_down(response, elapsed: float, limit: float) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["dependency"] == "models storage" and body["detail"].startswith("models storage is unavailable")
    assert elapsed < limit, f"took {elapsed:.1f} s (bound {limit:.1f} s)"


@pytest.fixture
def stoppable_s3(tmp_path, settings):
    server = moto(tmp_path).start()
    boto3.client("s3", endpoint_url=server.url, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=django_settings.AWS_STORAGE_BUCKET_NAME)
    point_models_storage_at(settings, server.url)
    yield server
    server.stop()


def test_storage_refusing_connections_is_a_json_503_within_seconds(stoppable_s3, settings, api, make_model):
    model = make_model(**spec())
    version = known_version(model)  # written to the private server
    stoppable_s3.stop()  # connections are refused from now on

    response, elapsed = timed(lambda: api.post("/inference", {"output_field": FIELD, "cell_id": CELL,
                                                              "model_id": str(model.id)}))
    assert_storage_down(response, elapsed, bound_seconds(settings))
    response, elapsed = timed(lambda: api.post(f"/performance/{FIELD}/evaluate"))
    assert_storage_down(response, elapsed, bound_seconds(settings))
    # Down is not missing: the version keeps its standing.
    assert ModelVersion.objects.get(id=version.id).unusable_reason == ""


def test_storage_that_never_answers_is_a_json_503_within_the_configured_bounds(settings, api, make_model):
    model = make_model(**spec())
    known_version(model)  # on the session's S3
    silent = SilentServer()
    try:
        settings.MODEL_STORAGE_READ_TIMEOUT_SECONDS = 1.5  # the bounds checked follow the settings; 5 s cost 20 s here
        point_models_storage_at(settings, silent.url)
        response, elapsed = timed(lambda: api.post("/inference", {"output_field": FIELD, "cell_id": CELL,
                                                                  "model_id": str(model.id)}))
        assert_storage_down(response, elapsed, bound_seconds(settings))
        assert elapsed >= settings.MODEL_STORAGE_READ_TIMEOUT_SECONDS * 0.9  # it did wait for an answer...
        assert silent.accepted >= 1  # ...on a connection that was accepted
        response, elapsed = timed(lambda: api.post(f"/performance/{FIELD}/evaluate"))
        assert_storage_down(response, elapsed, bound_seconds(settings))
    finally:
        silent.stop()


def delete_object(key: str) -> None:
    location = django_settings.STORAGES["models"]["OPTIONS"]["location"]
    s3 = boto3.client("s3", endpoint_url=django_settings.AWS_S3_ENDPOINT_URL)
    s3.delete_object(Bucket=django_settings.AWS_STORAGE_BUCKET_NAME, Key=f"{location}/{key}")


def test_a_missing_bundle_makes_its_version_unusable_and_the_others_are_elected(api, make_model, s3_endpoint):
    exact, off = make_model(**spec()), make_model(**spec())
    lost = known_version(exact, offset=0.0)  # persistence: the better model
    kept = known_version(off, offset=3.0)
    delete_object(lost.bundle_path)

    evaluation = api.post(f"/performance/{FIELD}/evaluate")
    assert evaluation.status_code == 200, evaluation.content
    results = {r["model_name"]: r for r in evaluation.json()["results"]}
    assert results[off.name]["score"] is not None and results[off.name]["elected"]
    assert results[exact.name]["score"] is None and results[exact.name]["rank"] is None
    assert "missing from the models storage" in results[exact.name]["note"]
    assert evaluation.json()["best"]["model_id"] == str(off.id)

    lost.refresh_from_db()
    assert lost.unusable_reason.startswith(f"its weight bundle {lost.bundle_path} is missing") and lost.unusable_at
    api.post(f"/performance/{FIELD}/evaluate")  # found again: still one event
    events = ModelEvent.objects.filter(model_id=exact.id, kind="version_unusable")
    assert events.count() == 1 and events.get().details["version"] == 1

    refused = api.post("/inference", {"output_field": FIELD, "cell_id": CELL, "model_id": str(exact.id)})
    assert refused.status_code == 409 and refused["Content-Type"].startswith("application/json")
    assert refused.json()["detail"].startswith(f"version 1 of {exact.name} cannot be used: its weight bundle")
    served = api.post("/inference", {"output_field": FIELD, "cell_id": CELL})
    assert served.status_code == 200 and served.json()["model_id"] == str(off.id)
    assert api.post(f"/performance/{FIELD}/set-best/{exact.id}").status_code == 409
    assert ModelVersion.objects.get(id=kept.id).unusable_reason == ""


def test_the_monitoring_loop_re_elects_when_the_best_loses_its_bundle(api, make_model, s3_endpoint):
    exact, off = make_model(**spec()), make_model(**spec())
    best = known_version(exact, offset=0.0)
    known_version(off, offset=3.0)
    assert api.post(f"/performance/{FIELD}/evaluate").json()["best"]["model_id"] == str(exact.id)
    delete_object(best.bundle_path)
    cache.clear()  # a worker that has not loaded it yet (one that has keeps serving it from memory)

    monitors.field_monitor_make_due(fields=[FIELD])
    outcome = monitoring.tick(only=[FIELD])
    assert [o.action for o in outcome] == [f"best unusable: evaluating; elected {off.name}"]
    assert api.get(f"/performance/{FIELD}/best").json()["model_id"] == str(off.id)
    assert FieldMonitor.objects.get(field=FIELD).state == MonitorState.MONITORING


def test_a_bundle_that_is_not_a_bundle_makes_its_version_unusable(api, make_model, s3_endpoint):
    model = make_model(**spec())
    version = known_version(model)
    location = django_settings.STORAGES["models"]["OPTIONS"]["location"]
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=django_settings.AWS_STORAGE_BUCKET_NAME, Key=f"{location}/{version.bundle_path}", Body=b"truncated")
    response = api.post("/inference", {"output_field": FIELD, "cell_id": CELL, "model_id": str(model.id)})
    assert response.status_code == 409 and "cannot be read" in response.json()["detail"]
    reason = ModelVersion.objects.get(id=version.id).unusable_reason
    assert reason.startswith(f"its weight bundle {version.bundle_path} cannot be read")
