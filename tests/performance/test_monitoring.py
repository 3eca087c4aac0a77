"""The monitoring state machine, transition by transition, with a controllable clock and the
bundled real data made worse on demand (injected drift on real windows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from performance import monitoring
from performance.models import FieldMonitor, MonitorEvent, ScoreRecord
from performance.services import election, monitors
from registry import services as registry_services
from registry.models import FieldBest, ModelVersion
from telemetry import drift
from telemetry.sources import history_source
from tests.factories import known_version
from training import services as training_services
from training.models import TrainingJob

pytestmark = pytest.mark.django_db
FIELD = "sinr_mean"


@pytest.fixture
def clock(monkeypatch):
    """timezone.now() under the test's control."""
    current = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: current[0])

    class Clock:
        def advance(self, seconds: float) -> None:
            current[0] += timedelta(seconds=seconds)

        def now(self):
            return current[0]
    return Clock()


@pytest.fixture
def field(make_model, settings, tmp_path):
    """Two sinr models with known versions, evaluated: persistence-like is the best."""
    settings.VAR_DIR = tmp_path
    settings.MONITORING_INTERVAL_SECONDS = 300
    settings.MONITORING_DEGRADATION_FACTOR = 1.5
    spec = dict(input_fields=[FIELD], output_fields=[FIELD], window_duration_seconds=10, lookback_steps=6,
                forecast_steps=1)
    best, other = make_model(**spec), make_model(**spec)
    known_version(best, offset=0.0)
    known_version(other, offset=0.5)
    election.field_evaluate(field=FIELD)
    return best, other


def make_worse(settings, noise: float = 8.0) -> None:
    source = history_source()
    drift.write(settings.VAR_DIR / "drift.json",
                [drift.Drift(kpi="sinr", since=source.now() - settings.EVALUATION_SPAN_SECONDS, noise=noise)])


def monitor() -> FieldMonitor:
    return FieldMonitor.objects.get(field=FIELD)


def kinds() -> list[tuple[str, str, str]]:
    return list(MonitorEvent.objects.values_list("kind", "from_state", "to_state"))


def finish_jobs(*, completed: bool = True) -> None:
    """What a worker would do with each queued retraining job (services, no network)."""
    for job in TrainingJob.objects.filter(status="queued").select_related("model"):
        training_services.training_job_claim(job_id=job.id, worker="test:1")
        if completed:
            version = known_version(job.model, offset=0.0)
            training_services.training_job_complete(job_id=job.id, version=version, summary={})
        else:
            training_services.training_job_fail(job_id=job.id, error="no luck")


def test_a_field_is_checked_only_when_due(field, clock):
    assert monitoring.tick() == []
    due = monitor().next_check_at
    clock.advance(301)
    outcomes = monitoring.tick()
    assert [(o.field, o.action) for o in outcomes] == [(FIELD, "ok")]
    assert kinds() == [("check", "monitoring", "")]
    state = monitor()
    # The next slot of the field's grid: one interval after the slot that was due, not after the check.
    assert state.next_check_at == due + timedelta(seconds=300) and state.last_score is not None
    assert ScoreRecord.objects.filter(trigger="auto_monitor").count() == 1
    assert monitoring.tick() == []


def test_the_whole_loop_with_drift(field, clock, settings):
    best, other = field
    baseline = FieldBest.objects.get().baseline_score
    make_worse(settings)
    clock.advance(301)
    assert monitoring.tick()[0].action == "degraded: retraining 2"
    state = monitor()
    assert state.state == "retraining" and len(state.waiting_job_ids) == 2
    check = MonitorEvent.objects.get(kind="check")
    assert check.score > check.threshold == pytest.approx(baseline * 1.5)
    assert set(TrainingJob.objects.values_list("model_id", flat=True)) == {best.id, other.id}
    assert all(j.reason == f"monitor: {FIELD} degraded" for j in TrainingJob.objects.all())

    clock.advance(301)
    assert monitoring.tick()[0].action == "waiting for jobs"
    finish_jobs()
    clock.advance(301)
    assert monitoring.tick()[0].action.startswith("retrained: evaluating; elected")  # one tick, no minute lost
    state = monitor()
    assert state.state == "monitoring" and FieldBest.objects.get().baseline_score > baseline * 1.5  # the new normal
    assert FieldBest.objects.get().version.version == 2 and FieldBest.objects.get().elected_by == "auto_evaluate"
    assert [k for k in kinds() if k[0] == "transition"] == [
        ("transition", "monitoring", "retraining"), ("transition", "retraining", "evaluating"),
        ("transition", "evaluating", "monitoring")]
    clock.advance(301)
    assert monitoring.tick()[0].action == "ok"  # settled: the drifted data is the new baseline


def test_r2_degradation_uses_the_error_form(field, clock, settings):
    election.field_evaluate(field=FIELD, metric="r2")
    make_worse(settings)
    clock.advance(301)
    assert monitoring.tick()[0].action.startswith("degraded")
    check = MonitorEvent.objects.get(kind="check")
    assert (1 - check.score) > (1 - check.baseline) * 1.5
    assert check.threshold == pytest.approx(1 - (1 - check.baseline) * 1.5)


def test_a_zero_baseline_is_replaced_by_the_first_real_score(field, clock):
    best, _ = field
    registry_services.field_best_set(field=FIELD, model=best, version=ModelVersion.objects.get(model=best),
                                     metric="rmse", baseline_score=0.0, elected_by="test")
    clock.advance(301)
    assert monitoring.tick()[0].action == "rebaselined"
    assert FieldBest.objects.get().baseline_score > 0 and monitor().state == "monitoring"
    assert not TrainingJob.objects.exists()


def test_no_data_means_no_transition(field, clock, settings):
    settings.EVALUATION_CELLS = [424242]  # a cell with no windows
    due = monitor().next_check_at
    clock.advance(301)
    assert monitoring.tick()[0].action == "no data"
    assert kinds() == [("no_data", "monitoring", "")] and monitor().state == "monitoring"
    assert monitor().next_check_at == due + timedelta(seconds=300)


def test_a_failed_retrain_goes_back_to_monitoring_with_the_old_best(field, clock, settings):
    best, _ = field
    make_worse(settings)
    clock.advance(301)
    monitoring.tick()
    finish_jobs(completed=False)
    clock.advance(301)
    assert monitoring.tick()[0].action == "retraining failed"
    assert monitor().state == "monitoring" and FieldBest.objects.get().model_id == best.id
    assert "retraining failed" in MonitorEvent.objects.filter(kind="transition").last().reason


def test_manual_evaluate_while_retraining_keeps_the_loop_state(field, clock, settings):
    make_worse(settings)
    clock.advance(301)
    monitoring.tick()
    election.field_evaluate(field=FIELD, metric="mae")  # an operator, mid-retraining
    state = monitor()
    assert state.state == "retraining" and FieldBest.objects.get().metric == "mae" and len(state.waiting_job_ids) == 2
    finish_jobs()
    clock.advance(301)
    monitoring.tick()
    assert monitor().state == "monitoring" and FieldBest.objects.get().metric == "mae"


def test_a_failed_election_stays_in_evaluating_and_is_retried(field, clock, settings, monkeypatch):
    make_worse(settings)
    clock.advance(301)
    monitoring.tick()
    finish_jobs()
    original = election.field_evaluate
    monkeypatch.setattr(election, "field_evaluate", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("S3 gone")))
    clock.advance(301)
    assert monitoring.tick()[0].action.startswith("error: RuntimeError: S3 gone")
    assert monitor().state == "evaluating" and monitor().consecutive_failures == 1
    monkeypatch.setattr(election, "field_evaluate", original)
    clock.advance(601)
    assert monitoring.tick()[0].action.startswith("elected")
    assert monitor().state == "monitoring" and FieldBest.objects.get().elected_by == "auto_evaluate"


def test_a_deleted_model_the_monitor_waits_on_counts_as_ended(field, clock, settings):
    _, other = field
    make_worse(settings)
    clock.advance(301)
    monitoring.tick()
    other_job = TrainingJob.objects.get(model=other)
    training_services.training_job_cancel(job=other_job)
    registry_services.model_config_delete(model=other)
    finish_jobs()
    clock.advance(301)
    assert monitoring.tick()[0].action.startswith("retrained: evaluating; elected")
    retrained = MonitorEvent.objects.filter(kind="transition", to_state="evaluating").get()
    assert "deleted" in retrained.reason


def test_one_failing_field_does_not_stop_the_others(field, clock, make_model, monkeypatch):
    rsrp = make_model(input_fields=["rsrp_mean"], output_fields=["rsrp_mean"], window_duration_seconds=10,
                      lookback_steps=6, forecast_steps=1)
    known_version(rsrp)
    election.field_evaluate(field="rsrp_mean")
    original = election.field_best_rescore

    def broken(*, field, **kwargs):
        if field == FIELD:
            raise RuntimeError("scoring exploded")
        return original(field=field, **kwargs)

    monkeypatch.setattr(election, "field_best_rescore", broken)
    clock.advance(301)
    outcomes = {o.field: o.action for o in monitoring.tick()}
    assert outcomes["rsrp_mean"] == "ok" and outcomes[FIELD].startswith("error: RuntimeError")
    failing = monitor()
    assert failing.consecutive_failures == 1 and "scoring exploded" in failing.last_error
    assert failing.next_check_at == clock.now() + timedelta(seconds=600)  # backoff: interval × 2
    assert failing.claimed_until is None
    clock.advance(601)
    monitoring.tick()
    assert monitor().next_check_at == clock.now() + timedelta(seconds=1200)
    monkeypatch.setattr(election, "field_best_rescore", original)
    clock.advance(1201)
    monitoring.tick()
    assert monitor().consecutive_failures == 0 and monitor().last_error == ""


def test_a_claimed_field_is_skipped(field, clock):
    clock.advance(301)
    assert monitors.field_monitor_claim(monitor_id=monitor().id)
    assert monitoring.tick() == []


def test_recovery_makes_a_stuck_retraining_field_due(field, clock, settings):
    make_worse(settings)
    clock.advance(301)
    monitoring.tick()
    TrainingJob.objects.all().delete()
    assert monitors.field_monitor_recover() == [f"monitor of {FIELD}: its retraining jobs have ended; due now"]
    assert monitor().next_check_at == clock.now()


def at(clock, moment) -> None:
    clock.advance((moment - clock.now()).total_seconds())


@pytest.mark.parametrize("interval", [60, 300])
def test_checks_keep_their_interval_however_long_a_check_takes(field, clock, settings, monkeypatch, interval):
    """The schedule fires once a minute, up to 30 s late (django-q2's scheduler wakes every
    30 s), and each check takes 4 s: the field is still checked once per interval, on its grid."""
    settings.MONITORING_INTERVAL_SECONDS = interval
    rescore = election.field_best_rescore

    def slow_check(**kwargs):
        clock.advance(4)  # a real check scores for seconds: spend them on the test's clock
        return rescore(**kwargs)

    monkeypatch.setattr(election, "field_best_rescore", slow_check)
    monitors.field_monitor_make_due(fields=[FIELD])
    start, lateness, next_slots = clock.now(), [1, 29, 3, 17, 8, 25], []
    for minute in range(6 * interval // 60):
        at(clock, start + timedelta(seconds=60 * minute + lateness[minute % len(lateness)]))
        if monitoring.tick():
            next_slots.append(monitor().next_check_at)
    assert next_slots == [start + timedelta(seconds=interval * k) for k in range(1, 7)]
    checks = list(MonitorEvent.objects.filter(kind="check").values_list("at", flat=True))
    spacing = [(later - earlier).total_seconds() for earlier, later in zip(checks, checks[1:], strict=False)]
    assert len(checks) == 6 and all(abs(s - interval) < 30 for s in spacing), spacing


def test_after_downtime_the_next_check_is_the_next_slot_not_a_burst(field, clock, settings):
    settings.MONITORING_INTERVAL_SECONDS = 60
    monitors.field_monitor_make_due(fields=[FIELD])
    start = clock.now()
    clock.advance(1)
    assert [o.action for o in monitoring.tick()] == ["ok"]
    assert monitor().next_check_at == start + timedelta(seconds=60)
    clock.advance(10 * 60)  # the worker was down for ten minutes
    assert [o.action for o in monitoring.tick()] == ["ok"]  # one check, not ten
    assert monitor().next_check_at == start + timedelta(seconds=11 * 60)  # the first slot after now
    assert monitoring.tick() == []
