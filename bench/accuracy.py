"""Forecast accuracy on the bundled real 5G data: learned models against naive forecasters.

For each KPI, window (10 s, 60 s), horizon (1, 3) and architecture (ann, lstm, linear), with
3 seeds: train on the earlier 80 % of every training cell (its last 20 % of that for early
stopping), then score the horizon-h step on (a) the later 20 % of the training cells and (b)
cells never used for training. Targets are residual (change from the last value), as in the
app. Prints RMSE, MAE, sample counts and skill (1 − RMSE / reference RMSE) against
persistence and against the better naive forecaster (persistence or the lookback mean), mean ±
spread over seeds, and the empirical coverage and mean width of the 90 % prediction interval
(split conformal, calibrated on the early-stopping split by `fit_model`); writes
docs/accuracy.md and docs/accuracy.png.

Measured by the code that serves forecasts: `training.fitting.fit_model` fits (as a training
job does), `inference.predict.LoadedModel` forecasts from the resulting bundle, the naive
forecasters are `performance.scoring`'s and `performance.metrics` scores. Two runs write
byte-identical files: every fit seeds its initial weights, torch runs on one thread.

    ~/.cache/cellwise/venv/bin/python bench/accuracy.py [--quick]

Held-out cells are fixed below and never looked at while choosing anything.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import django_embedded  # noqa: E402

django_embedded()  # the production modules below read Django models and settings

from inference import intervals  # noqa: E402
from inference.predict import LoadedModel  # noqa: E402
from performance import metrics  # noqa: E402
from performance.scoring import naive_forecasts  # noqa: E402
from telemetry.embedded import EmbeddedSource  # noqa: E402
from training import conformal  # noqa: E402
from training.architectures import spec  # noqa: E402
from training.fitting import FitConfig, fit_model  # noqa: E402
from training.sequences import SampleSet, build_samples, concat  # noqa: E402

KPIS = ["rsrp_mean", "sinr_mean", "cqi_mean", "rsrq_mean", "dl_bitrate_mean"]
INPUTS = ["rsrp_mean", "rsrq_mean", "sinr_mean", "cqi_mean", "dl_bitrate_mean"]
HELD_OUT = [11112973, 70430210, 10809101, 87812611, 11115276]  # fixed before any result was seen
ARCHITECTURES = ["ann", "lstm", "linear"]
LOOKBACK = 12
COVERAGE = 0.9  # nominal coverage of the prediction intervals measured
SHORT_NAMES = {"rsrp_mean": "rsrp", "sinr_mean": "sinr", "cqi_mean": "cqi", "rsrq_mean": "rsrq",
               "dl_bitrate_mean": "dl rate"}  # chart labels that fit under a bar


@dataclass
class Outcome:
    rmse: float
    mae: float
    persistence: float
    mean: float
    samples: int
    coverage: float  # of the model's COVERAGE interval at the horizon-h step
    width: float  # its mean width (upper − lower)

    @property
    def skill_persistence(self) -> float:
        return 1 - self.rmse / self.persistence

    @property
    def skill_naive(self) -> float:
        return 1 - self.rmse / min(self.persistence, self.mean)


def split_cell(frame, fraction: float):
    cut = int(len(frame) * fraction)
    return frame.take(slice(0, cut)), frame.take(slice(cut, len(frame)))


def cell_samples(frame, horizon: int, output: str) -> SampleSet:
    return build_samples(frame, inputs=INPUTS, outputs=[output], lookback=LOOKBACK, forecast=horizon)


def score(loaded: LoadedModel, frames, horizon: int, output: str) -> Outcome:
    """The horizon-h step of every sample of the frames: the production forecast (`LoadedModel`)
    and naive forecasters (`performance.scoring`), scored by `performance.metrics`."""
    truth, forecast, persistence, mean, pasts = [], [], [], [], []
    for frame in frames:
        samples = cell_samples(frame, horizon, output)
        if not len(samples):
            continue
        naive = naive_forecasts(samples, frame, output, 0, pasts)
        truth.append(samples.y[:, horizon - 1, 0])
        forecast.append(loaded.predict(samples.x, samples.last)[:, horizon - 1, 0])
        persistence.append(naive["persistence"][:, horizon - 1])
        mean.append(naive["lookback_mean"][:, horizon - 1])
    truth, forecast = np.concatenate(truth), np.concatenate(forecast)
    model = metrics.compute(truth, forecast)
    # The interval a forecast carries (inference.intervals), at the horizon-h step.
    lower, upper = intervals.bounds(loaded.bundle, forecast[:, None, None].repeat(horizon, axis=1), COVERAGE,
                                    np.concatenate(pasts)[:, :, None])
    band = conformal.empirical(truth, forecast, (upper - lower)[:, horizon - 1, 0] / 2)
    return Outcome(model["rmse"], model["mae"], metrics.compute(truth, np.concatenate(persistence))["rmse"],
                   metrics.compute(truth, np.concatenate(mean))["rmse"], model["points"], band["coverage"],
                   band["mean_width"])


def run(source, kpi: str, window: int, horizon: int, architecture: str, seed: int, quick: bool):
    train_frames, later_frames, held_frames = [], [], []
    for cell in source.cells():
        frame = source.windows(cell_index=cell, window_seconds=window, start=0, end=source.now(), fields=INPUTS)
        if cell in HELD_OUT:
            held_frames.append(frame)
        else:
            early, late = split_cell(frame, 0.8)
            train_frames.append(early)
            later_frames.append(late)
    config = FitConfig(name=f"accuracy-{kpi}-{window}s-h{horizon}-{architecture}", architecture=architecture,
                       input_fields=INPUTS, output_fields=[kpi], window_seconds=window, lookback=LOOKBACK,
                       forecast=horizon, hidden=32, target_mode="residual", epochs=8 if quick else 60,
                       batch_size=64, learning_rate=1e-3, patience=8, validation_fraction=0.2, seed=seed)
    fitted = fit_model(config, concat([s for f in train_frames if len(s := cell_samples(f, horizon, kpi))]))
    loaded = LoadedModel.from_bundle(fitted.bundle)
    return (score(loaded, later_frames, horizon, kpi), score(loaded, held_frames, horizon, kpi),
            fitted.samples_train)


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:+.1%} ± {statistics.pstdev(values):.1%}" if len(values) > 1 else f"{mean:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 seed, 8 epochs, 10 s only: a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    source = EmbeddedSource([ROOT / "telemetry" / "data" / "uccmisl-5g"])
    windows = [10] if args.quick else [10, 60]
    seeds = [0] if args.quick else [0, 1, 2]
    rows, began = [], time.perf_counter()
    for window in windows:
        for horizon in (1, 3):
            for kpi in KPIS:
                for architecture in ARCHITECTURES:
                    outcomes = [run(source, kpi, window, horizon, architecture, seed, args.quick)
                                for seed in (seeds if spec(architecture).iterative else seeds[:1])]
                    later, held, n_train = [o[0] for o in outcomes], [o[1] for o in outcomes], outcomes[0][2]
                    row = dict(window=window, horizon=horizon, kpi=kpi, architecture=architecture, n_train=n_train,
                               later=later, held=held)
                    rows.append(row)
                    print(f"{window:>3}s h{horizon} {kpi:<16} {architecture:<6} train {n_train:>6} | later "
                          f"RMSE {statistics.fmean(o.rmse for o in later):8.3f} skill/persist "
                          f"{spread([o.skill_persistence for o in later])} | held-out RMSE "
                          f"{statistics.fmean(o.rmse for o in held):8.3f} skill/persist "
                          f"{spread([o.skill_persistence for o in held])} skill/naive "
                          f"{spread([o.skill_naive for o in held])} | {COVERAGE:.0%} interval coverage later "
                          f"{statistics.fmean(o.coverage for o in later):.1%} held-out "
                          f"{statistics.fmean(o.coverage for o in held):.1%}",
                          flush=True)
    print(f"{time.perf_counter() - began:.0f} s")
    write_report(rows, quick=args.quick)


def goals(rows) -> list[str]:
    lines = []
    for horizon in (1, 3):
        for kpi in KPIS:
            group = [r for r in rows if r["window"] == 10 and r["horizon"] == horizon and r["kpi"] == kpi]
            if not group:
                continue
            # The "best learned model" is chosen on the training cells' later data, never on held-out cells.
            best = max(group, key=lambda r: statistics.fmean(o.skill_naive for o in r["later"]))
            naive_skill = statistics.fmean(o.skill_naive for o in best["held"])
            lines.append(f"| no harm, 10 s h{horizon} {kpi} | {best['architecture']} (chosen on later data): "
                         f"{naive_skill:+.1%} vs best naive on held-out cells | "
                         f"{'met' if naive_skill >= -0.02 else 'NOT met'} |")
            if kpi in ("sinr_mean", "cqi_mean", "rsrq_mean"):
                held = statistics.fmean(o.skill_persistence for o in best["held"])
                later = statistics.fmean(o.skill_persistence for o in best["later"])
                verdict = "met" if held >= 0.05 and later >= 0.10 else "NOT met"
                lines.append(f"| skill, 10 s h{horizon} {kpi} | held-out {held:+.1%} (goal ≥ +5 %), later data "
                             f"{later:+.1%} (goal ≥ +10 %) | {verdict} |")
            coverage = statistics.fmean(o.coverage for o in best["held"])
            verdict = "met" if abs(coverage - COVERAGE) <= 0.03 else "NOT met"
            lines.append(f"| interval, 10 s h{horizon} {kpi} | {best['architecture']}: {coverage:.1%} of held-out "
                         f"truths inside the {COVERAGE:.0%} interval (goal {COVERAGE - 0.03:.0%}–"
                         f"{COVERAGE + 0.03:.0%}), mean width {statistics.fmean(o.width for o in best['held']):.4g} | "
                         f"{verdict} |")
    return lines


def write_report(rows, *, quick: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    table = ["| window | h | KPI | arch | train samples | later: RMSE | later: skill vs persistence | held-out: RMSE | "
             "held-out: MAE | held-out samples | held-out: skill vs persistence | held-out: skill vs best naive | "
             f"later: {COVERAGE:.0%} interval coverage | held-out: coverage | held-out: mean width |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        later, held = r["later"], r["held"]
        table.append(
            f"| {r['window']} s | {r['horizon']} | {r['kpi']} | {r['architecture']} | {r['n_train']} | "
            f"{statistics.fmean(o.rmse for o in later):.3f} | {spread([o.skill_persistence for o in later])} | "
            f"{statistics.fmean(o.rmse for o in held):.3f} | {statistics.fmean(o.mae for o in held):.3f} | "
            f"{held[0].samples} | {spread([o.skill_persistence for o in held])} | "
            f"{spread([o.skill_naive for o in held])} | {statistics.fmean(o.coverage for o in later):.1%} | "
            f"{statistics.fmean(o.coverage for o in held):.1%} | {statistics.fmean(o.width for o in held):.4g} |")
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for axis, horizon in zip(axes, (1, 3), strict=True):
        subset = [r for r in rows if r["window"] == 10 and r["horizon"] == horizon]
        labels = [f"{SHORT_NAMES.get(r['kpi'], r['kpi'])}\n{r['architecture']}" for r in subset]
        values = [statistics.fmean(o.skill_persistence for o in r["held"]) * 100 for r in subset]
        axis.bar(range(len(values)), values, color=["tab:green" if v > 0 else "tab:red" for v in values])
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(values)), labels, fontsize=7)
        axis.set_title(f"10 s windows, horizon {horizon}: skill vs persistence on held-out cells (%)")
    fig.tight_layout()
    fig.savefig(docs / "accuracy.png", dpi=110)
    relative = [a for a in ARCHITECTURES if spec(a).reads_relative_inputs("residual")]
    closed_form = [a for a in ARCHITECTURES if not spec(a).iterative]
    report = [
        "# Forecast accuracy on the bundled real data", "",
        "Produced by `bench/accuracy.py`" + (" --quick (a smoke run: 1 seed, 8 epochs)" if quick else "") +
        ". Rerun: `~/.cache/cellwise/venv/bin/python bench/accuracy.py` (about 5 minutes on 2 cores).", "",
        f"Held-out cells (never trained on): {', '.join(map(str, HELD_OUT))}. Training cells: the other bundled "
        "cells, earlier 80 % for training (its last 20 % for early stopping), later 20 % for the 'later' columns. "
        f"Inputs: {', '.join(INPUTS)}; lookback {LOOKBACK} windows; residual targets ({' and '.join(relative)} "
        "read their inputs relative to the last window); the horizon-h step is scored. "
        "Skill = 1 − RMSE / reference RMSE (positive: better than the reference); mean ± spread over 3 seeds "
        f"({' and '.join(closed_form)} solved in closed form: one run). For the goals, the best architecture per "
        "KPI and horizon is chosen on the later data of the training cells, then read on the held-out cells. "
        "Fitted, forecast and scored by the production code (`training.fitting`, `inference.predict`, "
        "`performance.scoring`'s naive forecasters, `performance.metrics`); a rerun gives the same file.", "",
        f"Prediction intervals: {COVERAGE:.0%} split conformal intervals of the horizon-h step, calibrated by "
        "`fit_model` on its early-stopping split (the latest 20 % of the training samples by time), the absolute "
        "residuals grouped by the lookback's volatility (`training.conformal`); coverage is the share of truths "
        "inside lower..upper, width the mean of upper − lower in the KPI's units (mean over seeds).", "",
        "## Goals", "", "| goal | measured | verdict |", "|---|---|---|", *goals(rows), "",
        "## All results", "", *table, "", "![skill vs persistence](accuracy.png)", "",
    ]
    (docs / "accuracy.md").write_text("\n".join(report))
    print(f"wrote {docs / 'accuracy.md'} and {docs / 'accuracy.png'}")


if __name__ == "__main__":
    main()
