"""The monitoring loop: one persisted state machine per field, advanced by ticks.

    MONITORING --degraded--> RETRAINING --all jobs ended--> EVALUATING --> MONITORING

A tick (a django-q2 schedule, every minute) finds the fields whose `next_check_at` is due,
claims each with a conditional update (two workers never handle the same field) and calls the
monitor's services (`performance.services.monitors`) for its state:

1. MONITORING: the election re-scores the best (`auto_monitor`); the monitor acts on the score
   by the degradation rule: no score → an event; a zero-error baseline → the score becomes the
   baseline; degraded → a job for every model of the field (a model already training is
   waited for) → RETRAINING. Each job's completion hook ticks the field at once.
2. RETRAINING: when every awaited job has ended → EVALUATING; if none completed → MONITORING
   with the old best.
3. EVALUATING: evaluate every model of the field by the best's metric and elect → MONITORING.
   This runs in the same tick that entered EVALUATING; the state persists only if the
   evaluation fails (then it is retried with backoff).

A failure in one field never stops the others; it is retried with exponential backoff. Manual
evaluate or set-best at any time only changes the best and baseline; the loop keeps its state,
and its own evaluation after retraining has the last word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from core.errors import DomainError
from performance import realised, selectors
from performance.models import FieldMonitor, MonitorState, Trigger
from performance.services import election, monitors
from registry import selectors as registry_selectors
from telemetry.sources import latest_source

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    field: str
    action: str


def tick(*, only: list[str] | None = None) -> list[Outcome]:
    """Advance every due field once; returns what was done per field."""
    outcomes = []
    for monitor_id in selectors.due_monitor_ids(only=only):
        monitor = monitors.field_monitor_claim(monitor_id=monitor_id)
        if monitor is None:
            continue  # another worker took it
        outcomes.append(Outcome(monitor.field, _advance(monitor)))
    return outcomes


def _advance(monitor: FieldMonitor) -> str:
    actions = []
    try:
        step = _step(monitor)
        actions.append(step.action)
        if step.monitor.state == MonitorState.EVALUATING:  # nothing left to wait for: elect in the same tick
            monitor = step.monitor
            actions.append(_step(monitor).action)
    except Exception as error:  # one field's failure never stops the others
        log.exception("monitoring %s failed", monitor.field)
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        actions = [monitors.field_monitor_fail(monitor=monitor, error=message).action]
    finally:
        monitors.field_monitor_release(monitor_id=monitor.id)
    return "; ".join(actions)


def _step(monitor: FieldMonitor) -> monitors.Step:
    field = monitor.field
    if monitor.state == MonitorState.RETRAINING:
        return monitors.field_monitor_follow_jobs(monitor=monitor)
    if monitor.state == MonitorState.EVALUATING:
        evaluation = election.field_evaluate(field=field, metric=selectors.election_metric(field),
                                             trigger=Trigger.AUTO_EVALUATE)
        elected = evaluation.best if any(r.elected for r in evaluation.records) else None
        return monitors.field_monitor_reelected(monitor=monitor, elected=elected, scored=len(evaluation.records))
    best = registry_selectors.field_best(field)
    if best is None:  # the best model was deleted
        return monitors.field_monitor_best_gone(monitor=monitor)
    basis = ""
    if settings.MONITORING_SCORE_SOURCE == "realised":
        score, basis = realised_score(best)
        if score is not None:
            monitors.field_monitor_scored(field=field, score=score, at=timezone.now())
            return monitors.field_monitor_checked(monitor=monitor, best=best, score=score, basis=basis)
    check = election.field_best_rescore(field=field, trigger=Trigger.AUTO_MONITOR, actor=monitors.worker())
    if check.record.score is None and registry_selectors.version_unusable(check.best.version_id):
        return monitors.field_monitor_best_gone(  # its bundle is gone: elect another model now
            monitor=monitor, reason=f"the best cannot be used ({check.record.note})", action="best unusable")
    return monitors.field_monitor_checked(monitor=monitor, best=check.best, score=check.record.score,
                                          note=check.record.note, basis=basis)


def realised_score(best) -> tuple[float | None, str]:
    """MONITORING_SCORE_SOURCE=realised: the best version's realised score in its metric over the
    last interval, if at least MONITORING_REALISED_MIN_COUNT forecasts were counted; else None
    and the reason the check falls back to the backtest."""
    if best.metric not in ("rmse", "mae"):
        return None, f"realised scores are rmse and mae, the best is judged by {best.metric}: backtest"
    source = latest_source()
    since = datetime.fromtimestamp(source.now() - settings.MONITORING_INTERVAL_SECONDS, UTC)
    try:
        found = realised.best_score(best.field, best.model_id, version=best.version.version, since=since,
                                    source=source)
    except DomainError as error:  # the store or the source is down: the backtest may still run
        return None, f"realised score unavailable ({error.message}): backtest"
    least = settings.MONITORING_REALISED_MIN_COUNT
    if found["count"] < least:
        return None, (f"{found['count']} realised forecasts of {best.model.name} v{best.version.version} in the "
                      f"last {settings.MONITORING_INTERVAL_SECONDS} s, fewer than {least}: backtest")
    return found[best.metric], (f"realised {best.metric} over {found['count']} stored forecasts of "
                                f"v{best.version.version} since {since:%Y-%m-%d %H:%M:%S} UTC")
