"""/v1/performance/{field}: evaluate, read, override and monitor the best model of a field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Field, Path, Query, Router, Schema

from access.auth import READ_AUTH, WRITE_AUTH, caller
from access.paging import Page, PageParams, page_of
from access.responses import errors
from core.errors import FIELD_NAME_PATTERN, NotFound
from core.instants import as_utc
from performance import cell_table, degradation, realised, replay as replay_policy, selectors
from performance.models import ScoreRecord
from performance.services import election
from registry import selectors as registry_selectors
from registry.models import FieldBest

router = Router(tags=["performance"])
Metric = Literal["rmse", "mae", "mape", "r2"]
KpiField = Annotated[str, Path(pattern=FIELD_NAME_PATTERN, description="a KPI field, e.g. sinr_mean")]


class Baselines(Schema):
    persistence: float | None
    lookback_mean: float | None
    seasonal_naive: float | None


class IntervalOut(Schema):
    nominal: float = Field(description="the coverage the interval aims at (INTERVAL_COVERAGE)")
    coverage: float | None = Field(description="share of the true values inside lower..upper")
    mean_width: float | None = Field(description="mean of upper − lower, in the field's units")


class ScoreOut(Schema):
    model_id: uuid.UUID
    model_name: str
    version: int | None
    metric: str
    score: float | None
    rank: int | None
    elected: bool
    skill_vs_persistence: float | None = Field(description="1 − error / persistence error; > 0 beats persistence")
    baselines: Baselines
    samples: int
    cells: int
    trigger: str
    note: str
    measured_at: datetime
    metrics: dict[str, Any] = Field(description="every metric for the model and each baseline (with the "
                                    "naive forecasters' interval_coverage and interval_mean_width)")
    interval: IntervalOut | None = Field(description="the model's prediction interval on the same samples "
                                         "(null: not scored, or trained before intervals)")


def score_out(record: ScoreRecord) -> dict:
    return {
        "model_id": record.model_id, "model_name": record.model_name, "version": record.version,
        "metric": record.metric, "score": record.score, "rank": record.rank, "elected": record.elected,
        "skill_vs_persistence": record.skill_vs_persistence,
        "baselines": {"persistence": record.persistence_score, "lookback_mean": record.lookback_mean_score,
                      "seasonal_naive": record.seasonal_naive_score},
        "samples": record.samples, "cells": record.cells, "trigger": record.trigger, "note": record.note,
        "measured_at": record.measured_at, "metrics": record.details,
        "interval": None if record.interval_nominal is None else {
            "nominal": record.interval_nominal, "coverage": record.interval_coverage,
            "mean_width": record.interval_mean_width},
    }


class BestOut(Schema):
    field: str
    model_id: uuid.UUID
    model_name: str
    architecture: str
    naive: bool = Field(description="the best is a naive forecaster (persistence or the lookback mean): "
                                    "no learned model of the field beats it yet")
    version: int
    metric: str
    score: float | None = Field(description="the elected version's latest score")
    baseline: float
    threshold: float = Field(description="degraded past this: baseline × factor in the metric's direction")
    degradation_factor: float
    higher_is_better: bool
    elected_at: datetime
    elected_by: str
    below_naive: bool = Field(description="the best scores worse than persistence or the lookback mean")


def _below_naive(field: str) -> bool:
    state = selectors.monitor(field)
    return bool(state and state.below_naive)


def best_out(best: FieldBest) -> dict:
    latest = selectors.latest_score(best.field, best.model_id, best.version.version)
    rule = degradation.of(best)
    return {
        "field": best.field, "model_id": best.model_id, "model_name": best.model.name,
        "architecture": best.model.architecture, "naive": best.model.is_naive,
        "version": best.version.version, "metric": best.metric, "score": latest.score if latest else None,
        "baseline": best.baseline_score, "threshold": rule.threshold,
        "degradation_factor": rule.factor, "higher_is_better": rule.higher_is_better,
        "elected_at": best.elected_at, "elected_by": best.elected_by, "below_naive": _below_naive(best.field),
    }


class Challenger(Schema):
    name: str
    score: float


class EvaluationOut(Schema):
    field: str
    metric: str | None
    evaluation_id: uuid.UUID | None
    measured_at: datetime | None
    best: BestOut | None
    below_naive: bool
    challengers: list[Challenger] = Field(description="naive forecasters on the winner's samples")
    results: list[ScoreOut]


def evaluation_out(field: str, records: list[ScoreRecord], metric: str | None = None) -> dict:
    best = registry_selectors.field_best(field)
    # The elected row: with ELECTION_MARGIN a kept best may rank below the score leader.
    winner = next((r for r in records if r.elected), None) or next((r for r in records if r.rank == 1), None)
    challengers = [] if winner is None else [
        {"name": name, "score": getattr(winner, column)}
        for name, column in election.NAIVE_FORECASTERS.items() if getattr(winner, column) is not None
    ]
    return {
        "field": field, "metric": records[0].metric if records else metric,
        "evaluation_id": records[0].evaluation if records else None,
        "measured_at": records[0].measured_at if records else None,
        "best": best_out(best) if best else None, "below_naive": _below_naive(field),
        "challengers": challengers, "results": [score_out(r) for r in records],
    }


@router.post("/{field}/evaluate", response={200: EvaluationOut, **errors(401, 403, 404, 422, 502, 503)},
             auth=WRITE_AUTH)
def evaluate(request, field: KpiField, metric: Metric = "rmse"):
    """Score every model of the field on recent unseen windows (with naive baselines) and elect the best."""
    evaluation = election.field_evaluate(field=field, metric=metric, user=caller(request))
    return evaluation_out(field, evaluation.records, metric)


@router.get("/{field}", response={200: EvaluationOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def last_evaluation(request, field: KpiField):
    """The last evaluation as stored (no scoring)."""
    election.check_field(field)
    return evaluation_out(field, selectors.last_evaluation(field))


@router.get("/{field}/best", response={200: BestOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def best(request, field: KpiField):
    election.check_field(field)
    found = registry_selectors.field_best(field)
    if found is None:
        raise NotFound(f"no best model is elected for {field}; evaluate the field first")
    return best_out(found)


@router.post("/{field}/set-best/{model_id}", response={200: BestOut, **errors(401, 403, 404, 409, 422, 502, 503)},
             auth=WRITE_AUTH)
def set_best(request, field: KpiField, model_id: uuid.UUID):
    """Override the best without re-evaluating; the model's latest score becomes the baseline."""
    return best_out(election.field_best_override(field=field, model_id=model_id, user=caller(request)))


class MonitorOut(Schema):
    field: str
    model_id: uuid.UUID
    model_name: str
    version: int
    metric: str
    score: float | None
    baseline: float
    threshold: float
    degraded: bool | None
    samples: int
    measured_at: datetime


@router.post("/{field}/monitor", response={200: MonitorOut, **errors(401, 403, 404, 409, 422, 502, 503)},
             auth=WRITE_AUTH)
def monitor(request, field: KpiField):
    """Re-score only the best model and record it; never changes the best."""
    check = election.field_best_check(field=field, user=caller(request))
    return {
        "field": field, "model_id": check.best.model_id, "model_name": check.best.model.name,
        "version": check.best.version.version, "metric": check.best.metric, "score": check.record.score,
        "baseline": check.best.baseline_score, "threshold": check.threshold, "degraded": check.degraded,
        "samples": check.record.samples, "measured_at": check.record.measured_at,
    }


class StatusOut(Schema):
    field: str
    state: str = Field(description="monitoring, retraining, evaluating, or unmonitored (no best yet)")
    monitoring_enabled: bool
    metric: str | None = Field(description="the elected best's metric and baseline; null without a best")
    baseline: float | None
    threshold: float | None
    degradation_factor: float
    interval_seconds: int
    last_check_at: datetime | None
    last_score: float | None
    next_check_at: datetime | None
    active_job_ids: list[uuid.UUID]
    waiting_job_ids: list[uuid.UUID]
    consecutive_failures: int
    last_error: str
    below_naive: bool


@router.get("/{field}/status", response={200: StatusOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def status(request, field: KpiField):
    """The field's persisted monitor state."""
    election.check_field(field)
    state = selectors.monitor(field)
    best = registry_selectors.field_best(field)
    rule = degradation.of(best) if best else None
    return {
        "field": field, "state": state.state if state else "unmonitored",
        "monitoring_enabled": settings.MONITORING_ENABLED, "metric": rule.metric if rule else None,
        "baseline": rule.baseline if rule else None, "threshold": rule.threshold if rule else None,
        "degradation_factor": degradation.factor(), "interval_seconds": settings.MONITORING_INTERVAL_SECONDS,
        "last_check_at": state.last_check_at if state else None, "last_score": state.last_score if state else None,
        "next_check_at": state.next_check_at if state else None,
        "active_job_ids": [job.id for job in selectors.active_jobs(field)],
        "waiting_job_ids": state.waiting_job_ids if state else [],
        "consecutive_failures": state.consecutive_failures if state else 0,
        "last_error": state.last_error if state else "",
        "below_naive": bool(state and state.below_naive),
    }


class HistoryFilters(Schema):
    model_id: uuid.UUID | None = None


@router.get("/{field}/history", response={200: Page[ScoreOut], **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def history(request, field: KpiField, filters: Query[HistoryFilters], paging: Query[PageParams]):
    """Every score recorded for the field, oldest first."""
    election.check_field(field)
    page = page_of(selectors.history(field, filters.model_id), paging)
    page["items"] = [score_out(r) for r in page["items"]]
    return page


class CellOut(Schema):
    cell: int
    samples: int = Field(description="the most samples any model was scored on in this cell")
    scores: dict[str, float | None] = Field(description="each model's score here, and naive:persistence / "
                                                        "naive:lookback_mean on the field best's samples")
    best: str | None = Field(description="the lowest error in this cell, models and naive forecasters alike")
    best_score: float | None
    field_best: str | None
    field_best_score: float | None
    persistence: float | None
    skill_vs_persistence: float | None = Field(description="the field best's skill against persistence here")
    loses_to: str | None = Field(description="who beats the field's best in this cell (null: nobody)")


class CellPage(Page[CellOut]):
    metric: str | None
    measured_at: datetime | None
    models: list[str]


class CellFilters(Schema):
    sort: Literal["problems", "cell", "skill", "samples"] = Field(
        "problems", description="problems: cells where the field's best loses first, worst skill first")
    descending: bool = False


@router.get("/{field}/cells", response={200: CellPage, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def cells(request, field: KpiField, filters: Query[CellFilters], paging: Query[PageParams]):
    """Per-cell scores of the field's last evaluation: cells × models, the best per cell, skill
    against persistence and where the field's best loses."""
    election.check_field(field)
    found = cell_table.table(field)
    rows = cell_table.sort_rows(found.rows, filters.sort, filters.descending)
    return {"items": [vars(r) for r in rows[paging.offset: paging.offset + paging.limit]], "count": len(rows),
            "limit": paging.limit, "offset": paging.offset, "metric": found.metric,
            "measured_at": found.measured_at, "models": found.models}


class RealisedPoint(Schema):
    start: datetime = Field(description="the start of the time bucket (forecast target windows in it)")
    count: int
    rmse: float
    mae: float
    coverage: float | None = Field(description="share of actuals within lower..upper (null: no intervals)")


class RealisedSeries(Schema):
    model_id: str
    model_name: str
    step: int
    count: int
    rmse: float
    mae: float
    coverage: float | None
    latest_version: int
    points: list[RealisedPoint]


class RealisedOut(Schema):
    field: str
    since: datetime
    until: datetime
    bucket_seconds: int
    rows_read: int = Field(description="stored forecast rows read (closed windows, newest first)")
    truncated: bool = Field(description="REALISED_MAX_ROWS cut older forecasts off: narrow since/until")
    nominal_coverage: float = Field(description="INTERVAL_COVERAGE, which stored bounds aim at")
    series: list[RealisedSeries] = Field(description="per model and forecast step")


class RealisedFilters(Schema):
    since: datetime | None = Field(None, description="target windows from (default: REALISED_DEFAULT_HOURS ago)")
    until: datetime | None = Field(None, description="target windows ending by (default: the source's clock)")
    bucket_seconds: int | None = Field(None, ge=60, le=30 * 86_400, description="default REALISED_BUCKET_SECONDS")


@router.get("/{field}/realised", response={200: RealisedOut, **errors(401, 404, 422, 503)}, auth=READ_AUTH)
def realised_accuracy(request, field: KpiField, filters: Query[RealisedFilters]):
    """Realised error and interval coverage of the field's stored forecasts, joined with the
    actual windows that have arrived, per model, step and time bucket."""
    election.check_field(field)
    found = realised.realised(field, since=as_utc(filters.since, "since"), until=as_utc(filters.until, "until"),
                              bucket_seconds=filters.bucket_seconds)
    return {**vars(found), "nominal_coverage": settings.INTERVAL_COVERAGE}


class ReplayIn(Schema):
    factors: list[Annotated[float, Field(ge=1, le=100)]] = Field(
        [1.5], min_length=1, max_length=8, description="degradation factors to compare side by side")
    interval_seconds: int = Field(300, ge=10, le=7 * 86_400, description="the monitoring interval to replay")
    days: float = Field(7, gt=0, le=400, description="how far back to replay")
    retrain_seconds: int | None = Field(
        None, ge=0, le=30 * 86_400,
        description="how long a retraining keeps the loop away (default: the best's last training, else one interval)")


class PolicyOut(Schema):
    factor: float
    threshold: float
    retrain_triggers: int
    trigger_times: list[datetime]
    first_trigger_at: datetime | None
    degraded_checks: int
    degraded_seconds: int = Field(description="time spent past the threshold (degraded checks × interval)")


class ReplayOut(Schema):
    field: str
    model_id: uuid.UUID
    model_name: str
    version: int
    metric: str
    baseline: float
    interval_seconds: int
    days: float
    retrain_seconds: int
    span_seconds: int
    checks: int
    scored_checks: int
    policies: list[PolicyOut]
    at: list[datetime]
    scores: list[float | None] = Field(description="the best version's score at each check (null: no samples)")
    seconds: float = Field(description="time the replay took")


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def replay_out(result: replay_policy.Replay) -> dict:
    return {
        "field": result.field, "model_id": result.model_id, "model_name": result.model_name,
        "version": result.version, "metric": result.metric, "baseline": result.baseline,
        "interval_seconds": result.interval_seconds, "days": result.days, "retrain_seconds": result.retrain_seconds,
        "span_seconds": result.span_seconds, "checks": result.checks,
        "scored_checks": int((result.samples > 0).sum()),
        "policies": [{"factor": p.factor, "threshold": p.threshold, "retrain_triggers": len(p.triggers),
                      "trigger_times": [_utc(t) for t in p.triggers],
                      "first_trigger_at": _utc(p.first_trigger_at) if p.first_trigger_at is not None else None,
                      "degraded_checks": p.degraded_checks, "degraded_seconds": p.degraded_seconds}
                     for p in result.policies],
        "at": [_utc(t) for t in result.at.tolist()],
        "scores": [None if v != v else v for v in result.score.tolist()],
        "seconds": result.seconds,
    }


@router.post("/{field}/replay", response={200: ReplayOut, **errors(400, 401, 403, 404, 409, 422, 502, 503)},
             auth=WRITE_AUTH)
def replay(request, field: KpiField, body: ReplayIn):
    """Replay a retrain policy over stored data: re-score the current best at each past check
    (never trains) and apply the degradation rule for each factor."""
    election.check_field(field)
    return replay_out(replay_policy.replay(field=field, factors=body.factors, interval_seconds=body.interval_seconds,
                                           days=body.days, retrain_seconds=body.retrain_seconds))
