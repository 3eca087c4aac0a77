"""Retrain-policy replay on the bundled real data, with a drift injected at a known moment."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from performance import replay
from performance.models import ScoreRecord
from performance.services import election
from telemetry import drift
from telemetry.sources import history_source
from tests.factories import known_version
from training.models import TrainingJob

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"
HOUR = 3600


@pytest.fixture
def elected(make_model, settings, tmp_path):
    """A persistence-like best on 10 s windows, elected on clean data."""
    settings.VAR_DIR = tmp_path  # the drift file lives here
    model = make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                       lookback_steps=6, forecast_steps=2)
    known_version(model)
    election.field_evaluate(field=FIELD)
    return model


def inject(settings, since: int, noise: float = 40.0) -> None:
    drift.write(settings.VAR_DIR / "drift.json", [drift.Drift(kpi="sinr", since=since, noise=noise)])


def test_a_replay_triggers_at_the_drift_not_before_and_less_as_the_factor_rises(elected, settings):
    now = history_source().now()
    since = now - 2 * HOUR  # the bundled data's last day holds windows from 3.5 h to 0.25 h before now
    inject(settings, since)
    result = replay.replay(field=FIELD, factors=[1.2, 1.5, 3, 100], interval_seconds=300, days=1)

    assert result.checks == 288 and (result.samples > 0).all()
    before = result.at < since
    assert np.nanmax(result.score[before]) < result.baseline * 1.2 < np.nanmax(result.score[~before])
    counts = [len(p.triggers) for p in result.policies]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] == 0
    for policy in result.policies[:-1]:
        assert policy.first_trigger_at >= since  # never before the drift
        assert policy.first_trigger_at - since <= HOUR  # and soon after it
        assert all(t >= since for t in policy.triggers)
        assert policy.degraded_seconds == policy.degraded_checks * 300 > 0
    # No retraining job ever ran: away for one interval, so every degraded check triggers.
    assert len(result.policies[0].triggers) == result.policies[0].degraded_checks
    assert not TrainingJob.objects.exists()  # it never trains

    # The last check is now: its score is what the monitoring loop's re-score computes now
    # (which thins a cell past EVALUATION_MAX_ORIGINS_PER_CELL origins; the replay scores them all).
    settings.EVALUATION_MAX_ORIGINS_PER_CELL = 10**6
    check = election.field_best_rescore(field=FIELD, trigger="monitor", actor="test")
    assert result.score[-1] == pytest.approx(check.record.score, rel=1e-9)
    assert result.samples[-1] == check.record.samples


def test_a_long_retraining_keeps_the_loop_away(elected, settings):
    now = history_source().now()
    inject(settings, now - 2 * HOUR)
    quick = replay.replay(field=FIELD, factors=[1.2], interval_seconds=300, days=1, retrain_seconds=0)
    slow = replay.replay(field=FIELD, factors=[1.2], interval_seconds=300, days=1, retrain_seconds=HOUR)
    assert quick.policies[0].degraded_checks == slow.policies[0].degraded_checks
    gaps = np.diff(slow.policies[0].triggers)
    assert len(slow.policies[0].triggers) < len(quick.policies[0].triggers) and (gaps >= HOUR).all()


def test_the_replay_api_and_command(elected, settings, api):
    inject(settings, history_source().now() - 2 * HOUR)
    response = api.post(f"/performance/{FIELD}/replay", {"factors": [1.5, 3], "interval_seconds": 600, "days": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"] == 144 == len(body["at"]) == len(body["scores"]) and body["model_name"] == elected.name
    assert [p["factor"] for p in body["policies"]] == [1.5, 3]
    assert body["policies"][0]["retrain_triggers"] >= body["policies"][1]["retrain_triggers"] > 0
    assert ScoreRecord.objects.count() == 1  # the election's; the replay writes nothing

    assert api.post(f"/performance/{FIELD}/replay", {"factors": [0.5]}).status_code == 422
    too_many = api.post(f"/performance/{FIELD}/replay", {"interval_seconds": 10, "days": 400})
    assert too_many.status_code == 422 and "REPLAY_MAX_CHECKS" in too_many.json()["detail"]
    assert api.post("/performance/rsrq_mean/replay", {}).status_code == 404  # no best elected

    out = io.StringIO()
    call_command("replay_policy", FIELD, "--factor", "1.5", "--factor", "3", "--interval", "600", "--days", "1",
                 stdout=out)
    text = out.getvalue()
    assert "144 checks every 600 s" in text and "factor 1.5:" in text and "factor 3:" in text
