"""Vectorised sample building against a slow, obvious reference on random frames with gaps and NaNs."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from telemetry.frame import WindowFrame
from training.sequences import Scaler, build_samples, concat, targets, time_split

FIELDS = ("a", "b", "c")


def reference(frame: WindowFrame, inputs, outputs, lookback, forecast):
    """One Python iteration per candidate sample: the definition, spelled out."""
    xi = [frame.fields.index(f) for f in inputs]
    yi = [frame.fields.index(f) for f in outputs]
    xs, ys, lasts, origins, dropped = [], [], [], [], 0
    for i in range(len(frame) - lookback - forecast + 1):
        if any(frame.gap_before[j] for j in range(i + 1, i + lookback + forecast)):
            continue
        x = [[frame.values[j][c] for c in xi] for j in range(i, i + lookback)]
        y = [[frame.values[j][c] for c in yi] for j in range(i + lookback, i + lookback + forecast)]
        last = [frame.values[i + lookback - 1][c] for c in yi]
        if any(math.isnan(v) for row in x + y + [last] for v in row):
            dropped += 1
            continue
        xs.append(x)
        ys.append(y)
        lasts.append(last)
        origins.append(frame.end[i + lookback - 1])
    return xs, ys, lasts, origins, dropped


@st.composite
def frames(draw):
    n = draw(st.integers(0, 60))
    width = draw(st.sampled_from([10, 60]))
    steps = draw(st.lists(st.sampled_from([1, 1, 1, 1, 2, 5]), min_size=n, max_size=n))
    start = np.cumsum([0] + steps[:-1]) * width if n else np.array([], int)
    values = np.array(draw(st.lists(st.floats(-100, 100), min_size=n * 3, max_size=n * 3)), float).reshape(n, 3)
    nan_mask = np.array(draw(st.lists(st.booleans(), min_size=n * 3, max_size=n * 3)), bool).reshape(n, 3)
    values[nan_mask & (np.arange(n * 3).reshape(n, 3) % 7 == 0)] = np.nan  # some NaNs, not everywhere
    return WindowFrame.build(cell_index=3, window_seconds=width, fields=FIELDS, start=start, end=start + width,
                             values=values, sample_count=np.ones(n, int))


@settings(max_examples=150, deadline=None)
@given(frame=frames(), lookback=st.integers(1, 6), forecast=st.integers(1, 4),
       inputs=st.sampled_from([["a"], ["a", "b"], ["c", "a", "b"]]), outputs=st.sampled_from([["a"], ["b", "c"]]))
def test_matches_the_reference(frame, lookback, forecast, inputs, outputs):
    got = build_samples(frame, inputs=inputs, outputs=outputs, lookback=lookback, forecast=forecast)
    xs, ys, lasts, origins, dropped = reference(frame, inputs, outputs, lookback, forecast)
    assert got.x.shape == (len(xs), lookback, len(inputs))
    assert got.y.shape == (len(ys), forecast, len(outputs))
    np.testing.assert_allclose(got.x, np.array(xs, np.float32).reshape(got.x.shape))
    np.testing.assert_allclose(got.y, np.array(ys, np.float32).reshape(got.y.shape))
    np.testing.assert_allclose(got.last, np.array(lasts, np.float32).reshape(got.last.shape))
    assert got.origin.tolist() == [int(o) for o in origins]
    assert got.dropped_nan == dropped
    assert (got.cell == 3).all()


def test_stride_is_one_window_and_gaps_split_runs():
    start = np.array([0, 10, 20, 30, 40, 100, 110, 120])  # a gap between 40 and 100
    values = np.arange(8, dtype=float).reshape(8, 1)
    frame = WindowFrame.build(cell_index=1, window_seconds=10, fields=("a",), start=start, end=start + 10,
                              values=values, sample_count=np.ones(8))
    s = build_samples(frame, inputs=["a"], outputs=["a"], lookback=2, forecast=1)
    assert s.x[:, :, 0].tolist() == [[0, 1], [1, 2], [2, 3], [5, 6]]
    assert s.y[:, 0, 0].tolist() == [2, 3, 4, 7]
    assert s.origin.tolist() == [20, 30, 40, 120]
    assert s.segments == 2


def test_residual_targets():
    start = np.arange(20) * 10
    values = np.arange(20, dtype=float).reshape(20, 1) ** 2
    frame = WindowFrame.build(cell_index=1, window_seconds=10, fields=("a",), start=start, end=start + 10,
                              values=values, sample_count=np.ones(20))
    s = build_samples(frame, inputs=["a"], outputs=["a"], lookback=3, forecast=2)
    residual = targets(s, "residual")
    np.testing.assert_allclose(residual + s.last[:, None, :], s.y)
    np.testing.assert_allclose(targets(s, "level"), s.y)


def test_time_split_validates_the_latest_samples_of_every_cell_and_purges_the_boundary():
    start = np.arange(20) * 10
    frames = [WindowFrame.build(cell_index=cell, window_seconds=10, fields=("a",), start=start + offset,
                                end=start + offset + 10, values=np.arange(20.0).reshape(20, 1),
                                sample_count=np.ones(20))
              for cell, offset in ((1, 0), (2, -5), (3, 1000))]
    # Cell 3 is much later: a pooled split would validate on it alone.
    samples = concat([build_samples(f, inputs=["a"], outputs=["a"], lookback=3, forecast=2) for f in frames])
    per_cell = len(samples) // 3  # 16
    train, val = time_split(samples, 0.25)
    for cell in (1, 2, 3):
        cell_val, cell_train = val.origin[val.cell == cell], train.origin[train.cell == cell]
        assert len(cell_val) == round(per_cell * 0.25)
        assert len(cell_train) == per_cell - len(cell_val) - 1  # forecast − 1 = 1 purged at the boundary
        assert cell_train.max() < cell_val.min()
        # The purged sample's targets are the windows the first validation sample forecasts.
        assert cell_val.min() - cell_train.max() == 2 * 10
    one_each = concat([build_samples(f.take(slice(0, 5)), inputs=["a"], outputs=["a"], lookback=3, forecast=2)
                       for f in frames[:2]])  # one sample per cell: no cell can spare one
    train, val = time_split(one_each, 0.25)
    assert len(train) == 1 and len(val) == 1 and val.origin[0] == one_each.origin.max()


def test_scaler_standardises_with_the_data_it_was_fitted_on():
    rng = np.random.default_rng(0)
    train = rng.normal(5, 2, size=(400, 4, 2)).astype(np.float32)
    scaler = Scaler.fit(train)
    scaled = scaler.transform(train).reshape(-1, 2)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(train)), train, rtol=1e-5, atol=1e-4)
    constant = Scaler.fit(np.ones((10, 1, 1), np.float32))
    assert constant.std.tolist() == [1.0]  # no division by zero
