"""Forecast accuracy on the bundled real 5G data: learned models against naive forecasters.

For each KPI, window (10 s, 60 s), horizon (1, 3) and row of ARCHITECTURES (linear, lstm,
linear_lstm, lstm+stats, and the naive persistence and lookback_mean, registered like models so
that elections count them), with one seed (`--seeds N` for more): train on the earlier 80 % of
every training cell (its last 20 % of that for early stopping), then score the horizon-h step
on (a) the later 20 % of the training cells and (b) cells never used for training. Targets
are residual (change from the last value), as in the app. Training samples may hold up to
MAX_FILLED_WINDOWS filled windows in their lookback, as in a training job (`--max-filled`
changes it); scoring uses measured windows only.
Prints RMSE, MAE, sample counts and skill (1 − RMSE / reference RMSE) against
persistence and against the better naive forecaster (persistence or the lookback mean), mean ±
spread over seeds, and the empirical coverage and mean width of the 90 % prediction interval
(split conformal, calibrated on the early-stopping split by `fit_model`); writes
docs/accuracy.md and docs/accuracy.png (a full run, or `--from-rows` on the parts saved with
`--save-rows`).

Measured by the code that serves forecasts: `training.fitting.fit_model` fits (as a training
job does), `inference.predict.LoadedModel` forecasts from the resulting bundle, the naive
forecasters are `performance.scoring`'s and `performance.metrics` scores. Two runs write
byte-identical files: every fit seeds its initial weights, torch runs on one thread.

    ~/.cache/cellwise/venv/bin/python bench/accuracy.py [--quick]

Held-out cells are fixed below and never looked at while choosing anything.
"""

from __future__ import annotations

import argparse
import pickle
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

from django.conf import settings  # noqa: E402

from inference import intervals  # noqa: E402
from inference.predict import LoadedModel  # noqa: E402
from performance import metrics  # noqa: E402
from performance.scoring import naive_forecasts  # noqa: E402
from performance.services.election import replaces  # noqa: E402
from telemetry.embedded import EmbeddedSource  # noqa: E402
from training import conformal  # noqa: E402
from training.architectures import spec  # noqa: E402
from training.fitting import FitConfig, fit_model  # noqa: E402
from training.sequences import SampleSet, build_samples, concat  # noqa: E402

KPIS = ["rsrp_mean", "sinr_mean", "cqi_mean", "rsrq_mean", "dl_bitrate_mean"]
INPUTS = ["rsrp_mean", "rsrq_mean", "sinr_mean", "cqi_mean", "dl_bitrate_mean"]
HELD_OUT = [11112973, 70430210, 10809101, 87812611, 11115276]  # fixed before any result was seen
# "<architecture>+stats": the same architecture also reading each KPI's min, max and std per window.
ARCHITECTURES = ["linear", "lstm", "linear_lstm", "lstm+stats", "persistence", "lookback_mean"]
STATS = [f"{kpi[:-5]}_{stat}" for kpi in INPUTS for stat in ("min", "max", "std")]


def variant(name: str) -> tuple[str, list[str]]:
    """The registry architecture and the input fields of a row name such as "lstm+stats"."""
    architecture, _, extra = name.partition("+")
    return architecture, INPUTS + (STATS if extra == "stats" else [])
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


def cell_samples(frame, horizon: int, output: str, inputs=INPUTS, max_filled: int = 0) -> SampleSet:
    return build_samples(frame, inputs=inputs, outputs=[output], lookback=LOOKBACK, forecast=horizon,
                         max_filled=max_filled)


def score(loaded: LoadedModel, frames, horizon: int, output: str, inputs=INPUTS) -> Outcome:
    """The horizon-h step of every sample of the frames: the production forecast (`LoadedModel`)
    and naive forecasters (`performance.scoring`), scored by `performance.metrics`."""
    truth, forecast, persistence, mean, pasts = [], [], [], [], []
    for frame in frames:
        samples = cell_samples(frame, horizon, output, inputs)
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


def run(source, kpi: str, window: int, horizon: int, name: str, seed: int, quick: bool, max_filled: int = 0):
    architecture, inputs = variant(name)
    train_frames, later_frames, held_frames = [], [], []
    for cell in source.cells():
        frame = source.windows(cell_index=cell, window_seconds=window, start=0, end=source.now(), fields=inputs)
        if cell in HELD_OUT:
            held_frames.append(frame)
        else:
            early, late = split_cell(frame, 0.8)
            train_frames.append(early)
            later_frames.append(late)
    config = FitConfig(name=f"accuracy-{kpi}-{window}s-h{horizon}-{architecture}", architecture=architecture,
                       input_fields=inputs, output_fields=[kpi], window_seconds=window, lookback=LOOKBACK,
                       forecast=horizon, hidden=32, target_mode="residual", epochs=8 if quick else 60,
                       batch_size=64, learning_rate=1e-3, patience=8, validation_fraction=0.2, seed=seed)
    fitted = fit_model(config, concat([s for f in train_frames
                                       if len(s := cell_samples(f, horizon, kpi, inputs, max_filled))]))
    loaded = LoadedModel.from_bundle(fitted.bundle)
    return (score(loaded, later_frames, horizon, kpi, inputs), score(loaded, held_frames, horizon, kpi, inputs),
            fitted.samples_train)


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:+.1%} ± {statistics.pstdev(values):.1%}" if len(values) > 1 else f"{mean:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 seed, 8 epochs, 10 s only: a smoke run")
    parser.add_argument("--max-filled", type=int, default=settings.MAX_FILLED_WINDOWS,
                        help="filled windows a training sample's lookback may hold (default MAX_FILLED_WINDOWS)")
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES),
                        help="rows to fit (an experiment with other rows prints, writes nothing)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per iterative architecture")
    parser.add_argument("--windows", default="10,60")
    parser.add_argument("--horizons", default="1,3")
    parser.add_argument("--save-rows", type=Path, help="also pickle the results here (parts run in parallel)")
    parser.add_argument("--from-rows", type=Path, nargs="+",
                        help="write the report from pickled parts, fitting nothing")
    args = parser.parse_args()
    architectures = args.architectures.split(",")
    if args.from_rows:
        parts = [pickle.loads(path.read_bytes()) for path in args.from_rows]
        rows = [r for part in parts for r in part["rows"]]
        order = {(w, h): i for i, (w, h) in enumerate((w, h) for w in (10, 60) for h in (1, 3))}
        rows.sort(key=lambda r: order[(r["window"], r["horizon"])])  # stable: KPI and row order kept
        write_report(rows, quick=parts[0]["quick"], max_filled=parts[0]["max_filled"], seeds=parts[0]["seeds"])
        return
    torch.set_num_threads(1)
    source = EmbeddedSource([ROOT / "telemetry" / "data" / "uccmisl-5g"])
    windows = [10] if args.quick else [int(w) for w in args.windows.split(",")]
    seeds = [0] if args.quick else list(range(args.seeds))
    rows, began = [], time.perf_counter()
    for window in windows:
        for horizon in [int(h) for h in args.horizons.split(",")]:
            for kpi in KPIS:
                for architecture in architectures:
                    outcomes = [run(source, kpi, window, horizon, architecture, seed, args.quick, args.max_filled)
                                for seed in (seeds if spec(variant(architecture)[0]).iterative else seeds[:1])]
                    later, held, n_train = [o[0] for o in outcomes], [o[1] for o in outcomes], outcomes[0][2]
                    row = dict(window=window, horizon=horizon, kpi=kpi, architecture=architecture, n_train=n_train,
                               later=later, held=held)
                    rows.append(row)
                    print(f"{window:>3}s h{horizon} {kpi:<16} {architecture:<13} train {n_train:>6} | later "
                          f"RMSE {statistics.fmean(o.rmse for o in later):8.3f} skill/persist "
                          f"{spread([o.skill_persistence for o in later])} | held-out RMSE "
                          f"{statistics.fmean(o.rmse for o in held):8.3f} skill/persist "
                          f"{spread([o.skill_persistence for o in held])} skill/naive "
                          f"{spread([o.skill_naive for o in held])} | {COVERAGE:.0%} interval coverage later "
                          f"{statistics.fmean(o.coverage for o in later):.1%} held-out "
                          f"{statistics.fmean(o.coverage for o in held):.1%}",
                          flush=True)
    print(f"{time.perf_counter() - began:.0f} s")
    if args.save_rows:
        args.save_rows.write_bytes(pickle.dumps({"rows": rows, "quick": args.quick, "max_filled": args.max_filled,
                                                 "seeds": len(seeds)}))
    elif architectures == ARCHITECTURES and len(windows) == 2:  # experiments and parts print only
        write_report(rows, quick=args.quick, max_filled=args.max_filled, seeds=len(seeds))


# What was tried, measured with this script's options (`--inputs stats`, `--max-filled 0`,
# `--architectures`) and a scratch ensemble run; kept here so the report regenerates whole.
NOTES = [
    "## What was tried",
    "",
    "- **A per-cell validation split** (this run; `training.sequences.time_split`): early stopping and the "
    "intervals now use the latest 20 % of each training cell's samples (the last forecast − 1 training samples "
    "before each cell's boundary purged), not the latest 20 % of the pooled samples, which were three of the "
    "19 training cells, 87 % of them one static cell. Held-out coverage of the elected forecaster's 90 % "
    "interval within ±3 points: 6 of 10 KPI × horizon cases (before: 1 of 10, 75–98 %); intervals are wider "
    "(SINR h1 8.3 → 9.1 dB) because the calibration now sees every cell's volatility. Skill moved by −0.7 to "
    "+2.6 points (SINR h3 +4.7 → +7.3 %; RSRQ h1 +10.1 → +9.8 %). Tried in a scratch run with ridge and "
    "rejected: calibrating on whole held-back cells (85–93 % on the held-out cells but 31–70 % on the training "
    "cells' later data, and less skill: fewer cells trained on); normalised residuals (|r| / (volatility + ε)) "
    "instead of volatility groups: within 1–2 points of the groups.",
    "- **Why the remaining intervals miss**: the held-out cells are calmer than the training cells in RSRQ "
    "(94.6 % at h1, 95.3 % at h3: too wide) and move more in CQI at h3 (80.8 %) and DL bitrate at h1 (84.8 %); "
    "split conformal covers at the nominal rate only for cells exchangeable with the calibration cells, and "
    "with 19 training cells that holds for some KPIs and not others.",
    "- **The naive forecasters are the default best** (this run; `performance.services.election`): with no "
    "best yet, a learned leader replaces the best naive forecaster only when better by more than "
    "ELECTION_MARGIN (2 %), as a challenger must beat a best. It keeps persistence at RSRP h1 (the lstm 0.9 % "
    "ahead on later data) and h3 (`linear_lstm`, elected before, 3.9 % behind on held-out cells; now 0.0 %). "
    "It cannot help DL bitrate h3: `linear` is 6.5 % ahead of the lookback mean on the later data and 22.4 % "
    "behind on the held-out cells, whose traffic is a tenth of the training cells' (later RMSE ~49,000 vs "
    "held-out ~2,300); at h1 `lstm+stats` is elected (13.5 % ahead of persistence on later data) and ties "
    "the lookback mean on held-out cells (+0.2 %).",
    "- **Gap filling** (training samples may hold up to 2 interpolated windows): +1.9 % training samples "
    "(10 s h1: 6,022 → 6,137; 60 s: 740 → 752). The deterministic `linear` rows moved by under a point either "
    "way against the previous report (filling off): SINR h1 +7.1 → +7.0 %, h3 +2.2 → +3.0 %; CQI h3 "
    "+12.0 → +11.1 %; RSRQ h1 +9.2 → +9.0 %, h3 +8.7 → +8.3 %. More samples of the same cells, no new "
    "information: filling matters for serving (cells forecastable now 5 → 7 of 24, `bench/gap_filling.py`), "
    "not for skill.",
    "- **Ensemble** (`linear_lstm`, the mean of a ridge and an LSTM forecast; a production architecture): the "
    "lowest later-data RMSE for 6 of 10 KPI × horizon cases at 10 s, and better than both its parts on the "
    "held-out cells in 8 of 10 (SINR h1 +7.8 % vs linear +7.6 and lstm +5.4; CQI h3 +13.0 % vs +10.7 and "
    "+10.7; DL bitrate h3 −6.9 % vs −22.4 and −19.0 against the lookback mean). At 60 s (~750 samples) it is "
    "mixed.",
    "- **Min, max and std as inputs** (`lstm+stats`): worse than the plain lstm on later data in 7 of 10 "
    "cases at 10 s; elected for DL bitrate h1, where it is the only learned row level with the lookback mean on "
    "held-out cells; better than the plain lstm on held-out cells at h1 (SINR +8.7 vs +5.4 %), worse at h3 for "
    "SINR and RSRQ. An earlier smoke run gave ridge the same inputs: SINR h1 later-data skill fell from +7.4 "
    "to −3.7 %. Not adopted as a default.",
    "- **Per-sample scale normalisation** (scratch, ridge: inputs and target divided by the lookback's level, "
    "or its spread, as RevIN does for networks): diverged on DL bitrate, where silent lookbacks give scales "
    "near zero; on SINR no better than plain inputs (held-out RMSE 2.92–2.95 vs 2.84). Not built.",
    "- **ann**: dropped from this table; in an earlier report (3 seeds) it never had the lowest later-data "
    "RMSE, and CPU was short. One seed per row (the lstm's 3-seed spreads were ≤ 2.9 points at 10 s there).",
    "- **Gradient boosting**: not tried (it needs a new dependency; the gap below is between cells, which "
    "another learner on the same 19 cells would not close).",
    "- **Why SINR, CQI h1 and RSRQ h1 miss +10 %**: on the later data of the training cells the elected "
    "models reach it (SINR h1 +11.0 %, h3 +13.7 %; CQI h1 +11.3 %; RSRQ h1 +11.9 %), on cells never trained on "
    "they do not (SINR +7.8 % and +7.3 %, CQI h1 +5.6 %, RSRQ h1 +9.8 %): the gap is between cells, with 19 "
    "training cells and ~6,000 samples at 10 s. More cells (the real feed) are the lever the data points to; "
    "more inputs and other learners were not.",
]


def elected(group):
    """What an election would serve on a field with no best yet: the architecture (naive ones
    included) with the lowest RMSE on the training cells' later data, held to the best naive row
    under ELECTION_MARGIN by the election's own rule; never chosen on held-out cells."""
    def later(row) -> float:
        return statistics.fmean(o.rmse for o in row["later"])

    leader = min(group, key=later)
    naive = [r for r in group if spec(variant(r["architecture"])[0]).naive]
    if leader in naive or not naive:
        return leader
    holder = min(naive, key=later)
    return leader if replaces(later(leader), later(holder), settings.ELECTION_MARGIN)[0] else holder


def goals(rows) -> list[str]:
    lines = []
    for horizon in (1, 3):
        for kpi in KPIS:
            group = [r for r in rows if r["window"] == 10 and r["horizon"] == horizon and r["kpi"] == kpi]
            if not group:
                continue
            best = elected(group)
            naive_skill = statistics.fmean(o.skill_naive for o in best["held"])
            lines.append(f"| no harm, 10 s h{horizon} {kpi} | {best['architecture']} (elected on later data): "
                         f"{naive_skill:+.1%} vs best naive on held-out cells (goal ≥ −2 %) | "
                         f"{'met' if naive_skill >= -0.02 else 'NOT met'} |")
            if kpi in ("sinr_mean", "cqi_mean", "rsrq_mean"):
                held = statistics.fmean(o.skill_persistence for o in best["held"])
                later = statistics.fmean(o.skill_persistence for o in best["later"])
                lines.append(f"| skill, 10 s h{horizon} {kpi} | {best['architecture']}: held-out {held:+.1%} vs "
                             f"persistence (goal ≥ +10 %; later data {later:+.1%}) | "
                             f"{'met' if held >= 0.10 else 'NOT met'} |")
            coverage = statistics.fmean(o.coverage for o in best["held"])
            verdict = "met" if abs(coverage - COVERAGE) <= 0.03 else "NOT met"
            lines.append(f"| interval, 10 s h{horizon} {kpi} | {best['architecture']}: {coverage:.1%} of held-out "
                         f"truths inside the {COVERAGE:.0%} interval (goal {COVERAGE - 0.03:.0%}–"
                         f"{COVERAGE + 0.03:.0%}), mean width {statistics.fmean(o.width for o in best['held']):.4g} | "
                         f"{verdict} |")
    return lines


def write_report(rows, *, quick: bool, max_filled: int, seeds: int) -> None:
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
    names = sorted({variant(a)[0] for a in ARCHITECTURES}, key=[variant(a)[0] for a in ARCHITECTURES].index)
    relative = [a for a in names if spec(a).reads_relative_inputs("residual")]
    closed_form = [a for a in names if not spec(a).iterative]
    report = [
        "# Forecast accuracy on the bundled real data", "",
        "Produced by `bench/accuracy.py`" + (" --quick (a smoke run: 1 seed, 8 epochs)" if quick else "") +
        ". Rerun: `~/.cache/cellwise/venv/bin/python bench/accuracy.py` (about 20 minutes on 2 shared cores; or "
        "the three parts `--windows 10 --horizons 1`, `--windows 10 --horizons 3`, `--windows 60` with "
        "`--save-rows`, in parallel, then `--from-rows` on the three files: the same file).", "",
        f"Held-out cells (never trained on): {', '.join(map(str, HELD_OUT))}. Training cells: the other bundled "
        "cells, each cell's earlier 80 % for training (of which each cell's latest 20 % of samples for early stopping "
        "and interval calibration, as in a training job), later 20 % for the 'later' columns. "
        f"Inputs: {', '.join(INPUTS)} (`+stats` rows also read {', '.join(STATS)}); "
        f"lookback {LOOKBACK} windows; residual targets ({' and '.join(relative)} "
        "read their inputs relative to the last window); the horizon-h step is scored. "
        "Skill = 1 − RMSE / reference RMSE (positive: better than the reference); "
        f"{'one seed per row' if seeds == 1 else f'mean ± spread over {seeds} seeds'} "
        f"({', '.join(closed_form)}: closed form or nothing fitted). Training samples may hold "
        f"up to {max_filled} filled (interpolated) windows in their lookback (MAX_FILLED_WINDOWS); scored samples "
        "hold measured windows only. For the goals, the elected forecaster per KPI and horizon is the architecture "
        "(persistence and lookback_mean included, as in an election) with the lowest RMSE on the later data of the "
        f"training cells, held to the best naive row under ELECTION_MARGIN ({settings.ELECTION_MARGIN:.0%}) as in a "
        "field's first election, then read on the held-out cells. "
        "Fitted, forecast and scored by the production code (`training.fitting`, `inference.predict`, "
        "`performance.scoring`'s naive forecasters, `performance.metrics`); a rerun gives the same file.", "",
        f"Prediction intervals: {COVERAGE:.0%} split conformal intervals of the horizon-h step, calibrated by "
        "`fit_model` on its early-stopping split (the latest 20 % of each training cell's samples), the absolute "
        "residuals grouped by the lookback's volatility (`training.conformal`); coverage is the share of truths "
        "inside lower..upper, width the mean of upper − lower in the KPI's units (mean over seeds).", "",
        "## Goals", "", "| goal | measured | verdict |", "|---|---|---|", *goals(rows), "",
        *NOTES, "",
        "## All results", "", *table, "", "![skill vs persistence](accuracy.png)", "",
    ]
    (docs / "accuracy.md").write_text("\n".join(report))
    print(f"wrote {docs / 'accuracy.md'} and {docs / 'accuracy.png'}")


if __name__ == "__main__":
    main()
