"""Gap filling on the bundled real 5G data: which fill, how many windows, what it yields.

1. Method: inside every contiguous run, hide 1 (or 2) windows whose neighbours exist and
   fill them as `WindowFrame.fill_gaps` does (linear interpolation) and, for comparison, with
   the last value before the gap; RMSE per KPI against the hidden values.
2. Yield: per MAX_FILLED_WINDOWS (0 = today), the samples (lookback 12, horizons 1 and 3) and
   cells with at least one sample that `training.sequences.build_samples` builds, and the cells
   whose latest windows `inference.forecasting.usable_tail` accepts for a 12-window lookback.

    ~/.cache/cellwise/venv/bin/python bench/gap_filling.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import django_embedded  # noqa: E402

django_embedded()

from inference.forecasting import usable_tail  # noqa: E402
from telemetry.embedded import EmbeddedSource  # noqa: E402
from telemetry.frame import WindowFrame  # noqa: E402
from training.sequences import build_samples  # noqa: E402

KPIS = ["rsrp_mean", "rsrq_mean", "sinr_mean", "cqi_mean", "dl_bitrate_mean"]
LOOKBACK = 12


def hide(frame: WindowFrame, width: int) -> dict[str, dict[str, float]]:
    """Hide `width` windows at every interior position of every run; RMSE of each fill."""
    errors = {"interpolate": [], "last value": []}
    for begin, stop in frame.segments():
        for i in range(begin + 1, stop - width, width + 1):  # non-overlapping holes
            keep = np.r_[begin:i, i + width:stop]
            filled = frame.take(keep).fill_gaps(width)
            hole = np.flatnonzero(filled.filled_mask())
            truth = frame.values[i:i + width]
            errors["interpolate"].append(filled.values[hole] - truth)
            errors["last value"].append(np.repeat(frame.values[i - 1:i], width, axis=0) - truth)
    return {name: np.concatenate(e) if e else np.empty((0, len(frame.fields))) for name, e in errors.items()}


def main() -> None:
    source = EmbeddedSource([ROOT / "telemetry" / "data" / "uccmisl-5g"])
    cells = source.cells()
    for window in (10, 60):
        frames = [source.windows(cell_index=c, window_seconds=window, start=0, end=source.now(), fields=KPIS)
                  for c in cells]
        print(f"\n{window} s windows, {len(cells)} cells, {sum(len(f) for f in frames)} windows")
        for width in (1, 2):
            joined = {name: [] for name in ("interpolate", "last value")}
            for frame in frames:
                for name, e in hide(frame, width).items():
                    joined[name].append(e)
            print(f"  hide {width}: " + " | ".join(
                f"{name}: " + ", ".join(
                    f"{k} {np.sqrt(np.nanmean(np.concatenate(e)[:, j] ** 2)):.3f}" for j, k in enumerate(KPIS))
                for name, e in joined.items()))
        for most in (0, 1, 2, 3, 5):
            line = []
            for horizon in (1, 3):
                sets = [build_samples(f, inputs=KPIS, outputs=[k], lookback=LOOKBACK, forecast=horizon,
                                      max_filled=most) for f in frames for k in ("sinr_mean",)]
                line.append(f"h{horizon}: {sum(len(s) for s in sets)} samples in "
                            f"{sum(1 for s in sets if len(s))} cells ({sum(s.filled_samples for s in sets)} "
                            "with a filled window)")
            ready = sum(usable_tail(source.latest_windows(cell_index=c, window_seconds=window, count=LOOKBACK,
                                                          fields=KPIS), KPIS, KPIS, max_filled=most,
                                    limit=LOOKBACK).complete >= LOOKBACK for c in cells)
            print(f"  MAX_FILLED_WINDOWS={most}: " + "; ".join(line) + f"; forecastable now: {ready} cells")


if __name__ == "__main__":
    main()
