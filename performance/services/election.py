"""Evaluate, elect, override and re-score: the election side of the performance app.

An evaluation writes one `ScoreRecord` per model (unscored models too, ranked last), elects
the winner as the field's best (its score becomes the baseline), records a `FieldEvent` and
mirrors the seed's MLflow tags. MLflow is written through the registry's outbox, so it being
down never fails an election. Every score of a field's best also renders the below-naive
verdict. The monitor's own state is written by `performance.services.monitors`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Invalid, NotFound
from core.events import actor_name
from core.types import Actor, ModelId
from performance import degradation, metrics, notifications, selectors
from performance.instruments import EVALUATION_SECONDS
from performance.models import FieldEvent, ScoreRecord, Trigger
from performance.scoring import EvaluationData, ModelScore, record_fields, score_version
from performance.services import cells as cell_services, monitors
from registry import selectors as registry_selectors, services as registry_services
from registry.models import FieldBest, MlflowOutbox
from telemetry.sources import available_fields


def check_metric(metric: str) -> str:
    if metric not in metrics.METRICS:
        raise Invalid(f"unknown metric {metric!r}; use one of {', '.join(metrics.METRICS)}")
    return metric


def check_field(field: str) -> str:
    if field not in available_fields():
        raise NotFound(f"unknown field {field!r}: the data source has no such KPI field (GET /v1/fields)")
    return field


def field_event_record(*, field: str, kind: str, actor: str, message: str, **details) -> FieldEvent:
    return FieldEvent.objects.create(field=field, kind=kind, actor=actor, message=message, details=details)


def _rank(results: list[ModelScore], metric: str, current_best_id) -> list[ModelScore]:
    """Best first. Ties keep the current best, then the older model; unscored models last."""
    def key(result: ModelScore):
        score = result.score(metric)
        if score is None:
            return (1, 0.0, 1, result.model.created_at, str(result.model.id))
        return (0, metrics.error_form(metric, score), 0 if result.model.id == current_best_id else 1,
                result.model.created_at, str(result.model.id))
    return sorted(results, key=key)


def replaces(challenger_error: float, held_error: float, margin: float) -> tuple[bool, float]:
    """The election margin's one rule, on errors (lower is better): a challenger replaces the
    forecaster that holds the field only when its error is lower by more than `margin`
    (relative); also the gain. Shared with bench/accuracy.py's election."""
    gain = 1 - challenger_error / held_error if held_error > 0 else 0.0
    return gain > margin, gain


def _calm(ranked: list[ModelScore], metric: str, current: FieldBest | None, margin: float):
    """The winner under ELECTION_MARGIN, and why: the score leader replaces the holder only
    when its error is lower by more than `margin`. The holder is the current best; with none (or
    none scored by this metric), a learned leader is held to the best naive forecaster: naive
    costs nothing and is the default, so a learned model must clearly beat it (on the bundled
    data, a learned model 0.5 % ahead of persistence on recent data lost by 3.9 % on new cells)."""
    leader = ranked[0] if ranked and ranked[0].score(metric) is not None else None
    if leader is None:
        return None, ""
    holder = None
    if current is not None and current.metric == metric:
        holder = next((r for r in ranked if r.model.id == current.model_id and r.score(metric) is not None), None)
    if holder is None and not leader.model.is_naive:
        holder = next((r for r in ranked if r.model.is_naive and r.score(metric) is not None), None)
    if holder is None or holder is leader:
        return leader, ""
    held, challenger = holder.score(metric), leader.score(metric)
    assert held is not None and challenger is not None  # both chosen with a score
    better, gain = replaces(metrics.error_form(metric, challenger), metrics.error_form(metric, held), margin)
    role = "the best" if current is not None and holder.model.id == current.model_id else "the best naive forecaster"
    if better:
        verb = "replaced" if role == "the best" else "elected over"
        return leader, f"{verb} {role} {holder.model.name}: better by {gain:.2%}, more than the {margin:.2%} margin"
    return holder, (f"kept {role} {holder.model.name}: {leader.model.name} is better by only {gain:.2%}, "
                    f"within the {margin:.2%} election margin")


def _mirror_scores(results: list[ModelScore], field: str, metric: str, at) -> None:
    for result in results:
        score = result.score(metric)
        if score is None:
            continue
        registry_services.mirror_enqueue(operation=MlflowOutbox.Operation.SET_MODEL_TAGS, model_id=result.model.id,
                                         payload={"tags": {f"score_for:{field}": repr(score),
                                                           f"eval_metric:{field}": metric,
                                                           f"eval_at:{field}": at.isoformat()}})


NAIVE_FORECASTERS = {"persistence": "persistence_score", "lookback_mean": "lookback_mean_score"}


def best_naive(record: ScoreRecord) -> tuple[str, float] | None:
    """The better of persistence and the lookback mean on the record's samples."""
    scored = [(name, getattr(record, column)) for name, column in NAIVE_FORECASTERS.items()
              if getattr(record, column) is not None]
    return min(scored, key=lambda item: metrics.error_form(record.metric, item[1])) if scored else None


def _follow_naive_verdict(*, field: str, record: ScoreRecord, actor: str) -> None:
    """Flag the field `below_naive` when its best scores worse than the best naive forecaster,
    with an event whenever the flag changes."""
    naive = best_naive(record)
    if record.score is None or naive is None:
        return
    below = metrics.error_form(record.metric, record.score) > metrics.error_form(record.metric, naive[1])
    if monitors.field_monitor_flag_below_naive(field=field, below=below):
        field_event_record(
            field=field, kind="below_naive" if below else "above_naive", actor=actor,
            message=(f"{record.model_name} ({record.metric} {record.score:.4g}) is "
                     f"{'worse' if below else 'no worse'} than {naive[0]} ({naive[1]:.4g})"),
            model_id=str(record.model_id), score=record.score, naive=naive[0], naive_score=naive[1],
        )
        notifications.below_naive_changed(field=field, below=below, model_id=record.model_id,
                                          model_name=record.model_name, version=record.version, metric=record.metric,
                                          score=record.score, naive=naive[0], naive_score=naive[1])


@dataclass
class Evaluation:
    id: uuid.UUID
    field: str
    metric: str
    records: list[ScoreRecord]
    best: FieldBest | None
    changed: bool


def field_evaluate(*, field: str, metric: str = "rmse", trigger: str = Trigger.EVALUATE,
                   user: Actor = None) -> Evaluation:
    """Score every model of the field, elect the best, keep the history."""
    with EVALUATION_SECONDS.labels(field=field, trigger=trigger).time():
        return _evaluate(field=field, metric=metric, trigger=trigger, user=user)


def _evaluate(*, field: str, metric: str, trigger: str, user: Actor) -> Evaluation:
    check_metric(metric)
    check_field(field)
    evaluation = uuid.uuid4()
    models = registry_selectors.models_for_field(field)
    if not models:
        return Evaluation(evaluation, field, metric, [], registry_selectors.field_best(field), False)
    fields = sorted({f for m in models for f in m.input_fields + m.output_fields})
    data = EvaluationData(fields)
    results = [score_version(m, m.latest, field, data) for m in models]  # reads only; writes follow
    current = registry_selectors.field_best(field)
    ranked = _rank(results, metric, current.model_id if current else None)
    winner, why = _calm(ranked, metric, current, settings.ELECTION_MARGIN)
    now = timezone.now()
    actor = actor_name(user) if user else trigger
    with transaction.atomic():
        records = [
            ScoreRecord.objects.create(evaluation=evaluation, field=field, rank=i + 1 if r.score(metric) is not None
                                       else None, elected=r is winner, trigger=trigger, measured_at=now,
                                       **_with_note(record_fields(r, metric), why if r is winner else ""))
            for i, r in enumerate(ranked)
        ]
        cell_services.cell_scores_write(records=records, results=ranked)
        _mirror_scores(ranked, field, metric, now)
        best, changed = current, False
        summary = f"no model of {field} could be scored"
        if winner is not None:
            baseline = winner.score(metric)
            assert baseline is not None and winner.version is not None  # ranked first with a score: trained
            registry_services.field_best_set(field=field, model=winner.model, version=winner.version,
                                             metric=metric, baseline_score=baseline, elected_by=actor)
            changed = current is None or current.model_id != winner.model.id or current.version_id != winner.version.id
            if changed:
                notifications.best_elected(field=field, model=winner.model, version=winner.version, metric=metric,
                                           score=baseline, previous=current, elected_by=actor, trigger=trigger)
            monitors.field_monitor_watch(field=field)
            _follow_naive_verdict(field=field, record=next(r for r in records if r.elected), actor=actor)
            best = registry_selectors.field_best(field)
            summary = (f"{len(models)} models scored by {metric}; best: {winner.model.name} v{winner.version.version} "
                       f"({metric} {baseline:.4g})")
        field_event_record(
            field=field, kind="evaluated", actor=actor, message=summary,
            evaluation=str(evaluation), metric=metric, winner=str(winner.model.id) if winner else None,
            previous=str(current.model_id) if current else None, changed=changed,
            baseline=winner.score(metric) if winner else None, margin=settings.ELECTION_MARGIN, why=why,
        )
    return Evaluation(evaluation, field, metric, records, best, changed)


def _with_note(fields: dict, why: str) -> dict:
    if why:
        fields["note"] = "; ".join(n for n in (fields["note"], why) if n)[:300]
    return fields


def field_best_override(*, field: str, model_id: ModelId, user: Actor = None) -> FieldBest:
    """set-best: make a model the best without re-evaluating; its latest score is the baseline
    (scored now if it has none), so monitoring compares against something real."""
    check_field(field)
    model = registry_selectors.model_get(model_id)
    if field not in model.output_fields:
        raise Invalid(f"model {model.name} does not forecast {field} (it forecasts {', '.join(model.output_fields)})")
    version = registry_selectors.latest_version(model.id)
    if version is None:
        raise Conflict(f"model {model.name} has no trained version; train it before making it the best")
    if version.unusable_reason:
        raise Conflict(f"version {version.version} of {model.name} cannot be used: {version.unusable_reason}")
    record = selectors.latest_score(field, model.id, version.version)
    fresh: dict[str, Any] = {}  # the fields of a score made now (outside the transaction: it reads the data source)
    if record is None:
        current = registry_selectors.field_best(field)
        metric = current.metric if current else "rmse"
        data = EvaluationData(sorted(set(model.input_fields + model.output_fields)))
        scored = score_version(model, version, field, data)
        if scored.score(metric) is None:
            raise Conflict(f"model {model.name} cannot be scored on {field} now ({scored.note}); "
                           "its score is needed as the monitoring baseline")
        fresh = record_fields(scored, metric)
    actor = actor_name(user)
    with transaction.atomic():  # the set-best score row exists only if the election does
        if record is None:  # none yet: the score made above
            record = ScoreRecord.objects.create(evaluation=uuid.uuid4(), field=field, trigger=Trigger.SET_BEST,
                                                measured_at=timezone.now(), **fresh)
        assert record.score is not None  # latest_score reads scored records only; the fresh one is scored
        previous = registry_services.field_best_set(field=field, model=model, version=version, metric=record.metric,
                                                    baseline_score=record.score, elected_by=actor)
        if previous is None or (previous.model_id, previous.version_id) != (model.id, version.id):
            notifications.best_elected(field=field, model=model, version=version, metric=record.metric,
                                       score=record.score, previous=previous, elected_by=actor,
                                       trigger=Trigger.SET_BEST)
        monitors.field_monitor_watch(field=field)
        _follow_naive_verdict(field=field, record=record, actor=actor)
        field_event_record(field=field, kind="best_set", actor=actor,
                           message=f"{actor} made {model.name} v{version.version} the best for {field}",
                           model_id=str(model.id), previous=str(previous.model_id) if previous else None,
                           baseline=record.score, metric=record.metric)
    best = registry_selectors.field_best(field)
    assert best is not None  # elected above
    return best


@dataclass
class Check:
    """One re-score of a field's best, judged by the degradation rule."""

    record: ScoreRecord
    best: FieldBest
    rule: degradation.Rule

    @property
    def status(self) -> degradation.Status:
        return self.rule.status(self.record.score)

    @property
    def degraded(self) -> bool | None:
        return self.rule.degraded(self.record.score)

    @property
    def threshold(self) -> float:
        return self.rule.threshold


def field_best_rescore(*, field: str, trigger: str, actor: str) -> Check:
    """Re-score the best's elected version, record it and judge it against the baseline."""
    best = registry_selectors.field_best(field)
    if best is None:
        raise NotFound(f"no best model is elected for {field}; evaluate the field first")
    result = score_version(best.model, best.version, field,
                           EvaluationData(sorted(set(best.model.input_fields + best.model.output_fields))))
    now = timezone.now()
    with transaction.atomic():
        record = ScoreRecord.objects.create(evaluation=uuid.uuid4(), field=field, trigger=trigger, measured_at=now,
                                            elected=False, **record_fields(result, best.metric))
        _mirror_scores([result], field, best.metric, now)
        _follow_naive_verdict(field=field, record=record, actor=actor)
        if record.score is not None:
            monitors.field_monitor_scored(field=field, score=record.score, at=now)
    return Check(record=record, best=best, rule=degradation.of(best))


def field_best_check(*, field: str, user: Actor = None) -> Check:
    """The manual monitor ("monitor now"): re-score only the best and keep the history; never
    changes the best or the loop's state."""
    actor = actor_name(user) if user else Trigger.MONITOR
    check = field_best_rescore(field=field, trigger=Trigger.MONITOR, actor=actor)
    score, best = check.record.score, check.best
    field_event_record(field=field, kind="monitored", actor=actor,
                       message=(f"{best.model.name}: {best.metric} {score:.4g} vs baseline {best.baseline_score:.4g}"
                                f"{' (degraded)' if check.degraded else ''}" if score is not None
                                else f"{best.model.name} could not be scored: {check.record.note}"),
                       score=score, baseline=best.baseline_score, degraded=check.degraded)
    return check
