"""Gap filling: the frame's fill, samples built across short holes (targets never filled), and
the training data summary that counts them, on the bundled data."""

from __future__ import annotations

import numpy as np
import pytest

from telemetry.frame import WindowFrame
from training.fitting import FitConfig, fit_model
from training.pipeline import fetch_samples
from training.sequences import build_samples


def frame_with_holes() -> WindowFrame:
    # Windows 0-3, 1 missing (4), 5-6, 3 missing (7-9), 10-13; values are the window's number.
    present = [0, 1, 2, 3, 5, 6, 10, 11, 12, 13]
    return WindowFrame.build(cell_index=1, window_seconds=10, fields=["a", "b"],
                             start=[10 * i for i in present], end=[10 * i + 10 for i in present],
                             values=np.array([[i, 2 * i] for i in present], float), sample_count=[5] * len(present))


def test_short_gaps_are_interpolated_and_marked_longer_ones_stay():
    filled = frame_with_holes().fill_gaps(2)
    assert filled.start.tolist() == [0, 10, 20, 30, 40, 50, 60, 100, 110, 120, 130]
    assert filled.filled_mask().tolist() == [False] * 4 + [True] + [False] * 6
    assert filled.values[4].tolist() == [4.0, 8.0] and filled.sample_count[4] == 0
    assert filled.gap_before.tolist() == [True] + [False] * 6 + [True] + [False] * 3
    assert len(frame_with_holes().fill_gaps(3)) == 14  # the 3-window gap too
    assert frame_with_holes().fill_gaps(0).filled is None
    assert filled.take(slice(3, 6)).filled_mask().tolist() == [False, True, False]


def test_samples_may_hold_filled_inputs_up_to_the_bound_but_never_filled_targets():
    frame = frame_with_holes()
    plain = build_samples(frame, inputs=["a", "b"], outputs=["a"], lookback=3, forecast=1)
    assert plain.x[:, -1, 0].tolist() == [2.0, 12.0]  # origins inside the runs only
    filled = build_samples(frame, inputs=["a", "b"], outputs=["a"], lookback=3, forecast=1, max_filled=1)
    # Lookbacks ending at 2, 4(filled), 5 and 12; the sample whose target is window 4 is not built.
    assert sorted(filled.y[:, 0, 0].tolist()) == [3.0, 5.0, 6.0, 13.0]
    assert filled.filled_samples == 2 and filled.filled_windows == 1
    assert build_samples(frame, inputs=["a"], outputs=["a"], lookback=5, forecast=1, max_filled=1).x.shape[0] == 2


@pytest.mark.django_db
def test_training_counts_filled_windows_in_the_data_summary(make_model, settings):
    model = make_model(input_fields=["sinr_mean", "rsrp_mean"], output_fields=["sinr_mean"],
                       window_duration_seconds=10, lookback_steps=12, forecast_steps=1)
    settings.MAX_FILLED_WINDOWS = 0
    before = fetch_samples(model, lookback_seconds=settings.TRAINING_MAX_LOOKBACK_SECONDS).summary
    settings.MAX_FILLED_WINDOWS = 2
    data = fetch_samples(model, lookback_seconds=settings.TRAINING_MAX_LOOKBACK_SECONDS)
    after = data.summary
    assert before["windows_filled"] == before["samples_with_filled"] == 0
    assert after["max_filled_windows"] == 2 and after["windows_filled"] > 0
    assert after["samples"] - before["samples"] == after["samples_with_filled"] > 0
    fitted = fit_model(FitConfig.of(model), data.samples)  # filled samples fit like any
    assert fitted.samples_train + fitted.samples_val == after["samples"]


@pytest.mark.django_db
def test_add_naive_registers_both_naive_forecasters_of_a_field_and_trains_them(settings):
    from io import StringIO

    from django.core.management import call_command

    from registry.models import ModelConfig, ModelVersion

    out = StringIO()
    call_command("add_naive", "sinr_mean", "--window", "10", "--lookback", "12", "--forecast", "3", "--here",
                 stdout=out)
    models = ModelConfig.objects.filter(architecture__in=["persistence", "lookback_mean"]).order_by("name")
    assert [m.name for m in models] == ["sinr_mean-lookback-mean-10s-12x3", "sinr_mean-persistence-10s-12x3"]
    assert all(m.is_naive and m.output_fields == ["sinr_mean"] for m in models)
    assert ModelVersion.objects.filter(model__in=models).count() == 2 and out.getvalue().count("completed") == 2
