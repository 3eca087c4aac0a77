"""Realised accuracy: stored forecasts joined with the actual windows once they have arrived.

1. Read the field's stored forecasts whose target window has closed by the source's clock
   (`now()`: the replay clock with EMBEDDED_REPLAY), newest first, at most REALISED_MAX_ROWS rows
   (`truncated` says when the cap cut older rows off).
2. Read the actual windows of those cells in one multi-cell read (`windows_many`) per window length.
3. Join on (cell, target window start); a window that is missing or has no value yet is not counted.
4. Aggregate per model, step and time bucket (REALISED_BUCKET_SECONDS): rmse, mae, count and
   interval coverage (share of actuals within lower..upper, over the rows that have an interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings

from inference.forecast_store import get_store
from telemetry.base import TelemetrySource
from telemetry.sources import latest_source


@dataclass
class Realised:
    field: str
    since: datetime
    until: datetime
    bucket_seconds: int
    rows_read: int
    truncated: bool
    series: list[dict] = dataclass_field(default_factory=list)  # per (model, step): summary + points per bucket

    def summary(self, model_id: str | None = None, step: int | None = None) -> dict | None:
        """The whole-span summary of one series (the first matching)."""
        for s in self.series:
            if (model_id is None or s["model_id"] == model_id) and (step is None or s["step"] == step):
                return s
        return None


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def actuals(source: TelemetrySource, field: str, cells: np.ndarray, targets: np.ndarray,
            window_seconds: np.ndarray) -> np.ndarray:
    """The actual value of `field` in each (cell, window start, window length); NaN where it has not arrived."""
    out = np.full(len(cells), np.nan)
    for ws in np.unique(window_seconds):
        rows = np.flatnonzero(window_seconds == ws)
        wanted = np.unique(cells[rows])
        start, end = int(targets[rows].min()), int(targets[rows].max()) + int(ws)
        batch = source.windows_many(cells=wanted, window_seconds=int(ws), start=start, end=end,
                                    fields=[field]).select([field])
        if not batch.window_count:
            continue
        # A key unique per (cell, window start): the cell's position times the span, plus the start.
        span = end - start + 1
        row_position = np.repeat(np.arange(len(batch.cells)), np.diff(batch.offsets))
        keys = row_position * span + (batch.start - start)
        position = np.searchsorted(batch.cells, cells[rows])
        known = (position < len(batch.cells)) & (batch.cells[np.minimum(position, len(batch.cells) - 1)] == cells[rows])
        wanted_keys = position * span + (targets[rows] - start)
        at = np.searchsorted(keys, wanted_keys)  # keys ascend: cells ascend, starts ascend within a cell
        at = np.minimum(at, len(keys) - 1)
        hit = known & (keys[at] == wanted_keys)
        out[rows[hit]] = batch.values[at[hit], 0]
    return out


def realised(field: str, *, since: datetime | None = None, until: datetime | None = None,
             source: TelemetrySource | None = None, bucket_seconds: int | None = None,
             model_id=None, version: int | None = None) -> Realised:
    """Realised error and coverage of the field's stored forecasts between `since` and `until`
    (default: the last REALISED_DEFAULT_HOURS up to the source's clock); `model_id` and
    `version` keep only that model's (version's) forecasts."""
    source = source or latest_source()
    now = _utc(source.now())
    until = min(until or now, now)  # a window after the clock cannot have arrived
    since = since or until - timedelta(hours=settings.REALISED_DEFAULT_HOURS)
    bucket = int(bucket_seconds or settings.REALISED_BUCKET_SECONDS)
    cap = settings.REALISED_MAX_ROWS
    rows = get_store().closed(field=field, since=since, until=until, limit=cap)
    n = len(rows["cell"])
    result = Realised(field=field, since=since, until=until, bucket_seconds=bucket, rows_read=n, truncated=n >= cap)
    wanted = np.ones(n, bool)
    if model_id is not None:
        wanted &= rows["model_id"] == str(model_id)
    if version is not None:
        wanted &= rows["version"] == int(version)
    rows = {k: v[wanted] for k, v in rows.items()}
    if not wanted.any():
        return result
    actual = actuals(source, field, rows["cell"], rows["target"], rows["window_seconds"])
    keep = ~np.isnan(actual) & ~np.isnan(rows["value"])
    if not keep.any():
        return result
    rows = {k: v[keep] for k, v in rows.items()}
    actual = actual[keep]
    error = rows["value"] - actual
    has_band = ~np.isnan(rows["lower"]) & ~np.isnan(rows["upper"])
    inside = has_band & (actual >= rows["lower"]) & (actual <= rows["upper"])
    buckets = rows["target"] // bucket * bucket
    # Group by (model, step) then bucket: one unique over the series keys, one over the bucket keys.
    series_keys = np.char.add(np.char.add(rows["model_id"].astype(str), "|"), rows["step"].astype(str))
    series_names, series_of = np.unique(series_keys, return_inverse=True)
    for s, name in enumerate(series_names):
        members = np.flatnonzero(series_of == s)
        model_id, step = name.split("|")
        first = members[0]
        times, bucket_of = np.unique(buckets[members], return_inverse=True)
        count = np.bincount(bucket_of, minlength=len(times))
        squared = np.bincount(bucket_of, error[members] ** 2, len(times))
        absolute = np.bincount(bucket_of, np.abs(error[members]), len(times))
        banded = np.bincount(bucket_of, has_band[members], len(times))
        covered = np.bincount(bucket_of, inside[members], len(times))
        points = [{"start": _utc(t), "count": int(count[i]), "rmse": float(np.sqrt(squared[i] / count[i])),
                   "mae": float(absolute[i] / count[i]),
                   "coverage": float(covered[i] / banded[i]) if banded[i] else None}
                  for i, t in enumerate(times)]
        total, total_banded = int(count.sum()), int(banded.sum())
        result.series.append({
            "model_id": model_id, "model_name": str(rows["model_name"][first]), "step": int(step),
            "count": total, "rmse": float(np.sqrt(squared.sum() / total)), "mae": float(absolute.sum() / total),
            "coverage": float(covered.sum() / total_banded) if total_banded else None,
            "latest_version": int(rows["version"][members].max()), "points": points})
    result.series.sort(key=lambda s: (s["model_name"], s["model_id"], s["step"]))
    return result


def best_score(field: str, model_id, *, since: datetime, version: int | None = None,
               source: TelemetrySource | None = None) -> dict:
    """{rmse, mae, count} of `model_id`'s (`version`'s) stored forecasts for `field` over every
    step, targets since `since` (rmse and mae None when nothing was counted)."""
    found = realised(field, since=since, source=source, bucket_seconds=10**9, model_id=model_id, version=version)
    count = sum(s["count"] for s in found.series)
    if not count:
        return {"rmse": None, "mae": None, "count": 0}
    return {"rmse": float(np.sqrt(sum(s["rmse"] ** 2 * s["count"] for s in found.series) / count)),
            "mae": float(sum(s["mae"] * s["count"] for s in found.series) / count), "count": count}


CACHE_SECONDS = 60  # the pages poll; realised accuracy moves by the bucket, not by the second


def cached(field: str) -> Realised | None:
    """`realised(field)` over the default span, cached per field for CACHE_SECONDS (None: the
    store or the source is down; the pages show nothing rather than fail)."""
    from django.core.cache import cache

    from core.errors import DomainError

    key = f"performance:realised:{field}"
    found = cache.get(key)
    if found is None:
        try:
            found = realised(field)
        except DomainError:
            return None
        cache.set(key, found, CACHE_SECONDS)
    return found


def latest_rmse(found: Realised | None, model_id) -> dict | None:
    """The newest bucket's rmse of `model_id` over every step (count-weighted): {rmse, count, start}."""
    if found is None:
        return None
    mine = [s for s in found.series if s["model_id"] == str(model_id) and s["points"]]
    if not mine:
        return None
    newest = max(s["points"][-1]["start"] for s in mine)
    points = [p for s in mine for p in s["points"] if p["start"] == newest]
    count = sum(p["count"] for p in points)
    return {"rmse": float(np.sqrt(sum(p["rmse"] ** 2 * p["count"] for p in points) / count)), "count": count,
            "start": newest}


def chart(found: Realised | None) -> dict:
    """The field page's chart: realised rmse per bucket, one series per model and step."""
    if found is None or not found.series:
        return {"x": [], "series": [], "yLabel": "realised rmse"}
    times = sorted({p["start"].timestamp() for s in found.series for p in s["points"]})
    index = {t: i for i, t in enumerate(times)}
    series = []
    for s in found.series:
        values = [None] * len(times)
        for p in s["points"]:
            values[index[p["start"].timestamp()]] = p["rmse"]
        series.append({"label": f"{s['model_name']} step {s['step']}", "values": values})
    return {"x": times, "series": series, "yLabel": "realised rmse", "height": 260}
