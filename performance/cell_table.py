"""Reads of per-cell scores: the cells × models table of a field's last evaluation and the
number of cells each model wins.

Every score here is re-derived from the stored sums (performance/per_cell.py) in the
evaluation's metric, so a cell's numbers mean exactly what the field's totals mean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field as dataclass_field

import numpy as np
from django.db import connection

from performance import metrics, per_cell, selectors
from performance.models import CellScore, ScoreRecord

SORTS = ("problems", "cell", "skill", "samples")
NAIVE = ("naive:persistence", "naive:lookback_mean")  # keys that no model name can be (they hold a colon)


@dataclass
class CellRow:
    cell: int
    samples: int
    scores: dict[str, float | None] = dataclass_field(default_factory=dict)  # model name (and naive) → score
    best: str | None = None  # lowest error in this cell, models and naive forecasters alike
    best_score: float | None = None
    field_best: str | None = None  # the field's elected model
    field_best_score: float | None = None
    persistence: float | None = None
    skill_vs_persistence: float | None = None  # of the field's best, in this cell
    loses_to: str | None = None  # who beats the field's best here (None: it wins or ties)

    @property
    def problem(self) -> bool:
        return self.loses_to is not None


@dataclass
class CellTable:
    metric: str | None
    models: list[str]
    rows: list[CellRow]
    field_best: str | None
    measured_at: object = None


def _error(metric: str, value: float | None) -> float:
    return metrics.error_form(metric, value) if value is not None else float("inf")


def table(field: str) -> CellTable:
    """Every cell of the field's last evaluation (3 queries whatever the number of cells)."""
    records = [r for r in selectors.last_evaluation(field) if r.score is not None]
    if not records:
        return CellTable(None, [], [], None)
    metric = records[0].metric
    elected = next((r for r in records if r.elected), None)
    names = {r.id: r.model_name for r in records}
    rows: dict[int, CellRow] = {}
    columns = ["record_id", "cell", "samples", "points", "mape_points", "truth_sum", "truth_sq_sum",
               *(f"{f}_{p}" for f in per_cell.FORECASTERS for p in per_cell.PARTS)]
    # One array, metrics computed for every row at once: a network holds 10,000 cells × N models.
    query, params = (CellScore.objects.filter(record_id__in=list(names)).order_by("cell", "record_id")
                     .values_list(*columns).query.sql_with_params())
    with connection.cursor() as cursor:  # raw rows: the ORM's per-value conversion dominated at 100,000 rows
        cursor.execute(query, params)
        fetched = cursor.fetchall()
    ids = [values[0] for values in fetched]
    table_ = np.array([values[1:] for values in fetched], dtype=np.float64).reshape(len(fetched), len(columns) - 1)
    column = {name: table_[:, i] for i, name in enumerate(columns[1:])}

    def scores(forecaster: str) -> list[float | None]:
        values = per_cell.metric_of(metric, column["points"], column["mape_points"], column["truth_sum"],
                                    column["truth_sq_sum"], *(column[f"{forecaster}_{p}"] for p in per_cell.PARTS))
        return [None if math.isnan(v) else v for v in values.tolist()]

    model, persistence, lookback = scores("model"), scores("persistence"), scores("lookback_mean")
    for i, (record_id, cell, samples) in enumerate(zip(ids, column["cell"].astype(int).tolist(),
                                                       column["samples"].astype(int).tolist(), strict=True)):
        row = rows.get(cell)
        if row is None:
            row = rows[cell] = CellRow(cell=cell, samples=0)
        row.scores[names[record_id]] = model[i]
        row.samples = max(row.samples, samples)
        of_best = record_id == elected.id if elected is not None else row.persistence is None
        if of_best:  # naive forecasters on the field best's samples (the models may differ in windows)
            row.persistence = persistence[i]
            row.scores["naive:persistence"] = persistence[i]
            if lookback[i] is not None:
                row.scores["naive:lookback_mean"] = lookback[i]
    for row in rows.values():
        ranked = sorted(((_error(metric, v), name) for name, v in row.scores.items() if v is not None))
        if ranked:
            row.best, row.best_score = ranked[0][1], row.scores[ranked[0][1]]
        if elected is not None:
            row.field_best, row.field_best_score = elected.model_name, row.scores.get(elected.model_name)
            row.skill_vs_persistence = metrics.skill(metric, row.field_best_score, row.persistence)
            mine = _error(metric, row.field_best_score)
            beaten = [(e, n) for e, n in ranked if e < mine and n != elected.model_name]
            row.loses_to = beaten[0][1] if beaten else None
    return CellTable(metric, [r.model_name for r in records], list(rows.values()),
                     elected.model_name if elected else None, records[0].measured_at)


def sort_rows(rows: list[CellRow], by: str = "problems", descending: bool = False) -> list[CellRow]:
    """`problems` (default): cells where the field's best loses first, worst skill first."""
    def skill(row: CellRow) -> float:
        return row.skill_vs_persistence if row.skill_vs_persistence is not None else float("inf")
    keys = {
        "problems": lambda r: (not r.problem, skill(r), r.cell),
        "cell": lambda r: r.cell,
        "skill": lambda r: (skill(r), r.cell),
        "samples": lambda r: (r.samples, r.cell),
    }
    return sorted(rows, key=keys[by], reverse=descending)


def wins_by_model(model_ids) -> dict:
    """For each model: on how many cells of each field's last evaluation it is the best of the
    models (naive forecasters aside) and on how many it was scored."""
    wins: dict = defaultdict(dict)
    wanted = {str(m) for m in model_ids}
    for field in set(ScoreRecord.objects.filter(model_id__in=list(model_ids)).values_list("field", flat=True)):
        found = table(field)
        if not found.rows or found.metric is None:
            continue
        metric = found.metric
        records = {r.model_name: r.model_id for r in selectors.last_evaluation(field)}
        for name, model_id in records.items():
            if str(model_id) not in wanted:
                continue
            scored = [r for r in found.rows if r.scores.get(name) is not None]
            won = 0
            for row in scored:
                models_only = [(_error(metric, v), n) for n, v in row.scores.items()
                               if v is not None and n not in NAIVE]
                won += min(models_only)[1] == name
            wins[model_id][field] = {"wins": won, "cells": len(scored), "metric": found.metric}
    return dict(wins)
