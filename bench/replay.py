"""Issue 16 on the bundled data: replay cost, per-cell election, and the election margin.

Embedded setup (SQLite, local files): trains a few small sinr_mean models for real (the
pipeline's data path and fitting, no MLflow), evaluates the field, then:

1. Replay time: `replay()` of 7 days at 60 s intervals (the budget: ≤ 10 s) and of 60 days at
   300 s, against one `score_version` of the same best (one monitoring check) in the same run.
2. Per-cell best: the evaluation span split in time (earlier half to elect, later half to judge);
   each cell's best on the earlier half vs the field's single best, both scored on the later
   half, in points of skill against persistence. Candidates: the models, then models + naive.
3. Margin: how much the paired relative rmse gap between two models moves between the two
   halves and under a bootstrap over cells (noise an election margin must absorb).
"""

from __future__ import annotations

import time

import numpy as np
from _setup import django_embedded

FIELD = "sinr_mean"
SPECS = [  # (architecture, window s, lookback, forecast, hidden)
    ("ann", 10, 6, 1, 16), ("lstm", 10, 6, 1, 16), ("ann", 10, 12, 1, 32), ("ann", 10, 3, 1, 4),
]


def rmse(sums: dict, prefix: str) -> float:
    return float(np.sqrt(sums[f"{prefix}_sse"] / sums["points"]))


def main() -> None:
    import os

    # A longer held-out span than the default 15 days: the bundled data is sparse (24 cells over
    # ~99 days), and the per-cell question needs many cells on both sides of the split.
    os.environ.setdefault("EVALUATION_SPAN_SECONDS", str(50 * 86_400))
    django_embedded()
    import torch
    from django.conf import settings

    from performance import per_cell, replay, scoring
    from performance.services import election
    from registry import selectors as registry_selectors, services as registry_services
    from training.bundle import save_bundle
    from training.fitting import FitConfig, fit_model
    from training.pipeline import fetch_samples

    torch.set_num_threads(1)
    began = time.perf_counter()
    models = []
    for i, (arch, window, lookback, forecast, hidden) in enumerate(SPECS):
        model = registry_services.model_config_create(
            name=f"bench-{i}", architecture=arch,
            input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"], output_fields=[FIELD],
            window_duration_seconds=window, lookback_steps=lookback, forecast_steps=forecast, hidden_size=hidden,
            epochs=8)
        data = fetch_samples(model, lookback_seconds=settings.TRAINING_DEFAULT_LOOKBACK_SECONDS)
        key = save_bundle(fit_model(FitConfig.of(model), data.samples).bundle, f"models/{model.id}/bench.pt")
        from datetime import datetime
        registry_services.model_version_create(model_id=model.id, bundle_path=key,
                                               trained_until=datetime.fromisoformat(data.summary["data_until"]))
        models.append(model)
    print(f"setup: {len(models)} models trained in {time.perf_counter() - began:.1f} s")
    evaluation = election.field_evaluate(field=FIELD)
    best = registry_selectors.field_best(FIELD)
    print(f"best: {best.model.name} rmse {best.baseline_score:.4f} "
          f"(persistence {evaluation.records[0].persistence_score:.4f})")

    # 1. Replay time against one check.
    fields = sorted(set(best.model.input_fields + best.model.output_fields))
    one = []
    for _ in range(3):
        t = time.perf_counter()
        scoring.score_version(best.model, best.version, FIELD, scoring.EvaluationData(fields))
        one.append(time.perf_counter() - t)
    check = min(one)
    print(f"\n1. one check (score_version of the best): {check * 1000:.0f} ms")
    for days, interval in ((7, 60), (60, 300)):
        t = time.perf_counter()
        result = replay.replay(field=FIELD, factors=[1.25, 1.5, 2, 3], interval_seconds=interval, days=days)
        wall = time.perf_counter() - t
        print(f"   replay {days} d @ {interval} s: {result.checks} checks × 4 factors in {wall:.2f} s "
              f"({wall / check:.1f} single checks; {check * result.checks / wall:.0f}× faster than checking "
              f"each); triggers {[len(p.triggers) for p in result.policies]}; budget 10 s: "
              f"{'met' if days != 7 or wall <= 10 else 'MISSED'}")

    # 2. Per-cell best vs the field's single best, elected on the earlier half, judged on the later.
    data = scoring.EvaluationData(sorted({f for m in models for f in m.input_fields + m.output_fields}))
    sums = {}
    for model in models:
        version = registry_selectors.latest_version(model.id)
        low = max(data.start, int(version.trained_until.timestamp()))
        found = replay.sample_sums(version.id, FIELD, data, start=low)
        sums[model.name] = found
    reference = next(iter(sums.values()))
    middle = int((reference.start.min() + reference.start.max()) // 2)  # the span's middle in time
    print(f"\n2. per-cell election: earlier half before {middle}, {len(reference.start)} samples, "
          f"{len(np.unique(reference.cell))} cells")

    def by_cell(found, keep) -> dict:
        out = {}
        for cell in np.unique(found.cell[keep]):
            rows = keep & (found.cell == cell)
            out[int(cell)] = {k: float(v[rows].sum()) for k, v in found.sums.items()}
        return out

    early = {n: by_cell(f, f.start < middle) for n, f in sums.items()}
    late = {n: by_cell(f, f.start >= middle) for n, f in sums.items()}
    for label, naive in (("models only", False), ("models + naive", True)):
        candidates = [(n, "model") for n in sums]
        if naive:  # on the first model's samples
            candidates += [(models[0].name, "persistence"), (models[0].name, "lookback_mean")]

        def total(cells: dict, choice) -> dict:
            out: dict = {}
            for cell, (name, prefix) in choice.items():
                row = cells[name].get(cell)
                if row is not None:
                    out["points"] = out.get("points", 0) + row["points"]
                    out["sse"] = out.get("sse", 0) + row[f"{prefix}_sse"]
                    # persistence on the chosen one's own samples: skill compares like with like
                    out["persistence"] = out.get("persistence", 0) + row["persistence_sse"]
            return out

        all_cells = sorted(set().union(*[set(v) for v in late.values()]))
        field_scores = {}
        for name, prefix in candidates:
            rows = [early[name][c] for c in early[name]]
            field_scores[(name, prefix)] = sum(r[f"{prefix}_sse"] for r in rows) / sum(r["points"] for r in rows)
        field_best = min(field_scores, key=field_scores.get)
        per_cell_choice = {}
        for cell in all_cells:
            scored = {(n, p): early[n][cell][f"{p}_sse"] / early[n][cell]["points"]
                      for n, p in candidates if cell in early[n]}
            per_cell_choice[cell] = min(scored, key=scored.get) if scored else field_best
        single = total(late, {c: field_best for c in all_cells})
        chosen = total(late, per_cell_choice)

        def skill(t) -> float:
            return 100 * (1 - np.sqrt(t["sse"] / t["persistence"]))
        differ = sum(per_cell_choice[c] != field_best for c in all_cells)
        print(f"   {label}: field best {field_best[0]}/{field_best[1]}; later-half skill vs persistence "
              f"single {skill(single):+.2f} pts, per-cell {skill(chosen):+.2f} pts "
              f"(Δ {skill(chosen) - skill(single):+.2f} pts; {differ} of {len(all_cells)} cells choose another)")

    # 3. Margin: the paired relative gap between the two best models, its drift between halves and
    # its spread when the cells are resampled.
    ranked = sorted(((rmse(per_cell.total({k: v for k, v in f.sums.items()}), "model"), n) for n, f in sums.items()))
    a, b = ranked[0][1], ranked[1][1]
    rng = np.random.default_rng(0)

    def gap(cells_a: dict, cells_b: dict, cells) -> float:
        kept = [c for c in cells if c in cells_a and c in cells_b]
        sa = sum(cells_a[c]["model_sse"] for c in kept) / max(sum(cells_a[c]["points"] for c in kept), 1)
        sb = sum(cells_b[c]["model_sse"] for c in kept) / max(sum(cells_b[c]["points"] for c in kept), 1)
        return 1 - np.sqrt(sa / sb) if sb else np.nan

    both = {n: {**early[n], **{c: {k: early[n].get(c, {}).get(k, 0) + v for k, v in r.items()}
                               for c, r in late[n].items()}} for n in (a, b)}
    common = sorted(set(both[a]) & set(both[b]))
    boots = [gap(both[a], both[b], rng.choice(common, len(common))) for _ in range(300)]
    print(f"\n3. margin: {a} vs {b}: gap {gap(both[a], both[b], common):+.2%} over all, "
          f"{gap(early[a], early[b], common):+.2%} earlier half, {gap(late[a], late[b], common):+.2%} later half; "
          f"cell bootstrap std {np.nanstd(boots):.2%}")
    moves = []
    for i, (_, x) in enumerate(ranked):
        for _, y in ranked[i + 1:]:
            moves.append(abs(gap(early[x], early[y], common) - gap(late[x], late[y], common)))
    print(f"   every pair of models: the gap moves by {np.median(moves):.2%} (median), {max(moves):.2%} (most) "
          "from the earlier half to the later")
    persistence_gap = []
    for name in sums:
        e, lt = early[name], late[name]
        pe = 1 - np.sqrt(sum(r["model_sse"] for r in e.values()) / sum(r["persistence_sse"] for r in e.values()))
        pl = 1 - np.sqrt(sum(r["model_sse"] for r in lt.values()) / sum(r["persistence_sse"] for r in lt.values()))
        persistence_gap.append((name, pe, pl))
    for name, pe, pl in persistence_gap:
        print(f"   {name}: skill vs persistence {pe:+.2%} earlier, {pl:+.2%} later")


if __name__ == "__main__":
    main()
