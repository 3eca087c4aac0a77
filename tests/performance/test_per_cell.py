"""Per-cell error sums: stored with each evaluation, they add up to the field's totals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings as hypothesis_settings, strategies as st
from hypothesis.extra.numpy import arrays

from performance import cell_table, metrics, per_cell
from performance.models import CellScore
from performance.services import election
from tests.factories import known_version

FIELD = "sinr_mean"


@pytest.fixture
def sinr_model(make_model):
    def make(**overrides):
        spec = dict(input_fields=["sinr_mean", "rsrp_mean"], output_fields=[FIELD], window_duration_seconds=10,
                    lookback_steps=6, forecast_steps=2)
        return make_model(**{**spec, **overrides})
    return make


def _sum(rows, key):
    return sum(getattr(r, key) for r in rows)


@pytest.mark.django_db
def test_cells_add_up_to_the_field_totals_for_every_metric(sinr_model):
    good, shifted = sinr_model(), sinr_model(lookback_steps=9, forecast_steps=1)
    known_version(good)
    known_version(shifted, offset=1.5)
    evaluation = election.field_evaluate(field=FIELD, metric="rmse")
    for record in evaluation.records:
        rows = list(CellScore.objects.filter(record=record))
        assert len(rows) == record.cells >= 3 and _sum(rows, "samples") == record.samples
        totals = {k: _sum(rows, k) for k in ("points", "mape_points", "truth_sum", "truth_sq_sum")}
        for forecaster, stored in (("model", record.details["model"]), ("persistence", record.details["persistence"]),
                                   ("lookback_mean", record.details["lookback_mean"])):
            sums = per_cell.Sums.of({**totals, **{f"{forecaster}_{p}": _sum(rows, f"{forecaster}_{p}")
                                                  for p in per_cell.PARTS}}, forecaster)
            for metric in metrics.METRICS:
                assert sums.metric(metric) == pytest.approx(stored[metric], rel=1e-9, abs=1e-12), (forecaster, metric)
        assert per_cell.Sums.of(totals | {f"model_{p}": _sum(rows, f"model_{p}") for p in per_cell.PARTS},
                                "model").metric("rmse") == pytest.approx(record.score)


@pytest.mark.django_db
def test_the_cell_table_finds_where_the_field_best_loses(sinr_model, api):
    best, worse = sinr_model(), sinr_model()
    known_version(best)  # exactly persistence: it ties persistence everywhere, never loses to it
    known_version(worse, offset=0.7)
    election.field_evaluate(field=FIELD)
    found = cell_table.table(FIELD)
    assert found.field_best == best.name and len(found.rows) >= 3
    for row in found.rows:
        assert row.field_best_score == pytest.approx(row.persistence)  # the best is persistence, cell by cell
        assert row.skill_vs_persistence == pytest.approx(0, abs=1e-9)
        others = {n: v for n, v in row.scores.items() if n != best.name and v is not None}
        winner = min(others, key=others.get)
        expected = winner if others[winner] < row.field_best_score else None
        if expected == "naive:persistence":  # a tie with itself is no loss
            expected = None
        assert row.loses_to == expected
        if row.loses_to:
            assert row.best == row.loses_to and row.best_score < row.field_best_score
    losing = [r for r in found.rows if r.problem]
    assert losing, "on real data some cell is better served by the lookback mean or the shifted model"
    ordered = cell_table.sort_rows(found.rows)
    assert {r.cell for r in ordered[:len(losing)]} == {r.cell for r in losing}  # the problems come first
    by_samples = cell_table.sort_rows(found.rows, "samples", descending=True)
    assert [r.samples for r in by_samples] == sorted((r.samples for r in found.rows), reverse=True)

    page = api.get(f"/performance/{FIELD}/cells", limit=2, sort="cell")
    assert page.status_code == 200, page.content
    body = page.json()
    assert body["count"] == len(found.rows) and len(body["items"]) == 2 and body["metric"] == "rmse"
    assert [i["cell"] for i in body["items"]] == sorted(r.cell for r in found.rows)[:2]
    assert set(body["models"]) == {best.name, worse.name}
    wins = cell_table.wins_by_model([best.id, worse.id])
    worse_wins = sum(r.scores[worse.name] < r.scores[best.name] for r in found.rows)
    assert wins[worse.id][FIELD] == {"wins": worse_wins, "cells": len(found.rows), "metric": "rmse"}
    assert wins[best.id][FIELD]["wins"] == len(found.rows) - worse_wins


@pytest.mark.django_db
def test_cells_of_an_unknown_field_is_404(api):
    assert api.get("/performance/no_such_kpi/cells").status_code == 404


@hypothesis_settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (7, 3), elements=st.floats(-50, 50)), arrays(np.float64, (7, 3), elements=st.floats(-50, 50)),
       st.integers(1, 6))
def test_sums_of_any_split_give_the_metrics_of_the_whole(truth, prediction, split):
    # Away from the "constant truth" cut-off, where the sums' cancellation and compute()'s two
    # passes may fall on either side of it.
    assume(np.var(truth) > 1e-6 or np.ptp(truth) == 0)
    rows = per_cell.row_sums(truth, {"model": prediction})
    parts = [{k: v[:split] for k, v in rows.items()}, {k: v[split:] for k, v in rows.items()}]
    merged = {k: sum(per_cell.total(p)[k] for p in parts) for k in rows}
    expected = metrics.compute(truth, prediction)
    for metric in metrics.METRICS:
        got = per_cell.Sums.of(merged, "model").metric(metric)
        if expected[metric] != expected[metric]:  # NaN: undefined for the whole, so for the sums
            assert got is None
        else:
            assert got == pytest.approx(expected[metric], rel=1e-6, abs=1e-6)


@pytest.mark.django_db
def test_old_evaluations_lose_their_cells_but_each_field_keeps_its_newest(sinr_model):
    from datetime import timedelta

    from django.utils import timezone

    from performance import retention
    from performance.models import ScoreRecord

    known_version(sinr_model())
    old, newer = election.field_evaluate(field=FIELD), election.field_evaluate(field=FIELD)
    ScoreRecord.objects.filter(evaluation=old.id).update(measured_at=timezone.now() - timedelta(days=100))
    ScoreRecord.objects.filter(evaluation=newer.id).update(measured_at=timezone.now() - timedelta(days=99))
    kept = CellScore.objects.filter(record__evaluation=newer.id).count()
    assert kept >= 3 and CellScore.objects.filter(record__evaluation=old.id).count() == kept

    pruned = retention.history_prune(older_than_days=90)
    assert pruned.cells == kept
    assert set(CellScore.objects.values_list("record__evaluation", flat=True)) == {newer.id}
    assert ScoreRecord.objects.filter(evaluation=old.id).exists()  # the story stays; only its cells go
    assert cell_table.table(FIELD).rows  # the page still has its cells


def test_a_constant_truth_has_no_r2_unless_forecast_exactly():
    truth = np.full(7, 0.1)
    assert ((truth - truth.mean()) ** 2).sum() > 0  # the mean's rounding: r2 was −5e33 here
    for prediction, r2 in ((truth + 1.0, None), (truth.copy(), 1.0)):
        computed = metrics.compute(truth, prediction)["r2"]
        assert (math.isnan(computed) if r2 is None else computed == r2), computed
        sums = per_cell.total(per_cell.row_sums(truth.reshape(7, 1), {"model": prediction.reshape(7, 1)}))
        assert per_cell.Sums.of(sums, "model").metric("r2") == r2
