"""Sample building at ~100k windows: vectorised `build_samples` vs a per-sample Python loop."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telemetry.frame import WindowFrame  # noqa: E402
from training.sequences import build_samples  # noqa: E402

WINDOWS, LOOKBACK, FORECAST, FIELDS = 100_000, 12, 3, ("sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean")


def frame() -> WindowFrame:
    rng = np.random.default_rng(7)
    steps = np.where(rng.random(WINDOWS) < 0.01, 5, 1)  # a gap every ~100 windows
    start = np.cumsum(steps) * 10
    values = rng.normal(size=(WINDOWS, len(FIELDS)))
    values[rng.random(values.shape) < 0.001] = np.nan
    return WindowFrame.build(cell_index=1, window_seconds=10, fields=FIELDS, start=start, end=start + 10,
                             values=values, sample_count=np.ones(WINDOWS))


def loop(frame: WindowFrame, inputs, outputs):
    """The straightforward way: one Python iteration (and a few slices) per sample."""
    xi = [frame.fields.index(f) for f in inputs]
    yi = [frame.fields.index(f) for f in outputs]
    width = LOOKBACK + FORECAST
    xs, ys = [], []
    for i in range(len(frame) - width + 1):
        if frame.gap_before[i + 1:i + width].any():
            continue
        x = frame.values[i:i + LOOKBACK, xi]
        y = frame.values[i + LOOKBACK:i + width, yi]
        if np.isnan(x).any() or np.isnan(y).any():
            continue
        xs.append(x)
        ys.append(y)
    return np.array(xs, np.float32), np.array(ys, np.float32)


def best_of(runs: int, function) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - began)
    return min(timings), result


def main() -> None:
    f = frame()
    inputs, outputs = list(FIELDS), ["sinr_mean"]
    vector_s, fast = best_of(5, lambda: build_samples(f, inputs=inputs, outputs=outputs, lookback=LOOKBACK,
                                                      forecast=FORECAST))
    loop_s, (x, y) = best_of(2, lambda: loop(f, inputs, outputs))
    assert np.array_equal(fast.x, x) and np.array_equal(fast.y, y), "the two methods disagree"
    print(f"{WINDOWS} windows, {len(fast)} samples (lookback {LOOKBACK}, forecast {FORECAST}, {len(FIELDS)} inputs)")
    print(f"per-sample loop : {loop_s * 1000:8.1f} ms")
    print(f"vectorised      : {vector_s * 1000:8.1f} ms")
    print(f"ratio           : {loop_s / vector_s:8.1f}x  (goal >= 50x)")


if __name__ == "__main__":
    main()
