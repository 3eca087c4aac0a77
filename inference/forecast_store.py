"""Where stored forecasts live: one interface, a database and a ClickHouse backend.

At 10,000 cells forecast every minute, three steps each, the store takes ~43 M rows a day.
ClickHouse (when `CLICKHOUSE_DSN` is set) is built for that: columnar, compressed, appended in
blocks, and it drops old rows itself (TTL). The database store is for installations without
ClickHouse: the same rows, a retention setting and a daily pruning task. `FORECAST_STORE`
chooses (auto: ClickHouse when configured, else the database).

Writes are idempotent per (field, cell, origin, step): the database has a unique constraint
(conflicting rows are ignored); ClickHouse is a ReplacingMergeTree whose key holds
(field, cell, target, origin) (target = origin + (step − 1) × window, so the same thing) and reads
use FINAL, so a chunk run twice is counted once.

Each backend also keeps each cell's latest forecast apart (`LatestForecast`, one row per field
and cell, upserted; in ClickHouse a `<table>_latest` ReplacingMergeTree where the greatest origin
wins), which the Network page sorts and searches without scanning history.
"""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import DependencyDown
from inference.batch import BatchResult
from inference.models import LatestForecast, StoredForecast

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
# Fields where a higher value is the worse one (everything else: radio quality, throughput, lower is worse).
_HIGHER_IS_WORSE = ("latency", "delay", "loss", "bler", "jitter", "error", "drop")


def higher_is_worse(field: str) -> bool:
    return any(word in field.lower() for word in _HIGHER_IS_WORSE)


@dataclass(frozen=True)
class Query:
    field: str
    cell: int | None = None
    since: datetime | None = None  # forecasts for windows starting at or after
    limit: int = 100
    offset: int = 0


SORTS = ("worst", "best", "cell", "newest")


@dataclass(frozen=True)
class Latest:
    field: str
    search: str = ""  # the start of a cell id
    sort: str = "worst"  # worst predicted first (see `higher_is_worse`), best, cell, newest
    limit: int = 50
    offset: int = 0

    def order(self) -> list[str]:
        """Sort keys, Django style ("-" = descending)."""
        worst_first = "-worst" if higher_is_worse(self.field) else "worst"
        best_first = worst_first[1:] if worst_first.startswith("-") else "-worst"
        return {"worst": [worst_first, "cell"], "best": [best_first, "cell"], "cell": ["cell"],
                "newest": ["-origin", "cell"]}[self.sort]


class ForecastStore(ABC):
    name: str

    @abstractmethod
    def _append(self, result: BatchResult, created: datetime) -> None:
        """Append every forecast of `result` (idempotent per field, cell, origin, step)."""

    @abstractmethod
    def query(self, query: Query) -> tuple[int, list[dict]]:
        """(count, one page of rows) ordered by cell, target, origin."""

    @abstractmethod
    def _append_latest(self, result: BatchResult, created: datetime) -> None:
        """Make these each cell's latest forecast of the field (a newer origin wins)."""

    @abstractmethod
    def latest(self, latest: Latest) -> tuple[int, list[dict]]:
        """(count, one page) of each cell's latest forecast: cell, origin, model_name, version,
        window_seconds, values (one per step), worst."""

    @abstractmethod
    def latest_fields(self) -> list[str]:
        """Fields with a latest forecast."""

    @abstractmethod
    def closed(self, *, field: str, since: datetime, until: datetime, limit: int) -> dict[str, np.ndarray]:
        """Forecasts of `field` whose target window starts at or after `since` and ends at or before
        `until`, newest targets first, at most `limit` rows, as columns (realised accuracy):
        cell, model_id (str), model_name, version, step, target (Unix s), window_seconds, value,
        lower, upper (NaN: no interval)."""

    @abstractmethod
    def prune(self, *, before: datetime) -> int:
        """Delete forecasts made before `before`; how many (ClickHouse: its TTL does it, 0)."""

    def write(self, result: BatchResult) -> int:
        """Store the forecasts of one chunk and refresh each cell's latest; rows written."""
        if not result.forecasts:
            return 0
        created = timezone.now()
        self._append(result, created)
        self._append_latest(result, created)
        return len(result.forecasts) * result.steps


def _rows(result: BatchResult, created: datetime):
    entry, ws = result.entry, result.window_seconds
    for forecast in result.forecasts:
        origin = datetime.fromtimestamp(forecast.origin, UTC)
        for k, value in enumerate(forecast.values):
            yield dict(field=result.output_field, cell=forecast.cell_id, model_id=entry.model_id,
                       model_name=entry.model_name, version=entry.version, origin=origin, step=k + 1,
                       target=origin + timedelta(seconds=k * ws), window_seconds=ws, value=float(value),
                       lower=None if forecast.lower is None else float(forecast.lower[k]),
                       upper=None if forecast.upper is None else float(forecast.upper[k]),
                       created_at=created)


def _band_column(result: BatchResult, side: str) -> np.ndarray | None:
    """The flattened (cells × steps) lower or upper bounds; None when the version has no intervals."""
    columns = [getattr(f, side) for f in result.forecasts]
    if any(c is None for c in columns):
        return None
    return np.concatenate(columns).astype(np.float64)


def _worst(result: BatchResult) -> np.ndarray:
    values = np.stack([f.values for f in result.forecasts])
    return values.max(axis=1) if higher_is_worse(result.output_field) else values.min(axis=1)


class DatabaseStore(ForecastStore):
    """The history in `StoredForecast`, each cell's latest in `LatestForecast` (upserted)."""

    name = "database"

    @transaction.atomic
    def _append_latest(self, result: BatchResult, created: datetime) -> None:
        worst = _worst(result)
        # A late write of an older origin (a slow chunk of an earlier run) must not replace a newer one.
        newest = dict(LatestForecast.objects.select_for_update().filter(
            field=result.output_field, cell__in=[f.cell_id for f in result.forecasts]).values_list("cell", "origin"))
        rows = [LatestForecast(
            field=result.output_field, cell=f.cell_id, model_id=result.entry.model_id,
            model_name=result.entry.model_name, version=result.entry.version,
            origin=origin, window_seconds=result.window_seconds,
            values=[float(v) for v in f.values], worst=float(worst[i]), updated_at=created)
            for i, f in enumerate(result.forecasts)
            if (origin := datetime.fromtimestamp(f.origin, UTC)) >= newest.get(f.cell_id, origin)]
        LatestForecast.objects.bulk_create(
            rows, batch_size=2000, update_conflicts=True, unique_fields=["field", "cell"],
            update_fields=["model_id", "model_name", "version", "origin", "window_seconds", "values", "worst",
                           "updated_at"])

    def latest(self, latest: Latest) -> tuple[int, list[dict]]:
        from django.db.models import CharField
        from django.db.models.functions import Cast

        rows = LatestForecast.objects.filter(field=latest.field)
        if latest.search:
            rows = rows.annotate(cell_text=Cast("cell", CharField())).filter(cell_text__startswith=latest.search)
        page = rows.order_by(*latest.order()).values(*LATEST_COLUMNS)[latest.offset:latest.offset + latest.limit]
        return rows.count(), list(page)

    def latest_fields(self) -> list[str]:
        return sorted(LatestForecast.objects.values_list("field", flat=True).distinct())

    def _append(self, result: BatchResult, created: datetime) -> None:
        StoredForecast.objects.bulk_create([StoredForecast(**row) for row in _rows(result, created)],
                                           batch_size=5000, ignore_conflicts=True)

    def query(self, query: Query) -> tuple[int, list[dict]]:
        rows = StoredForecast.objects.filter(field=query.field)
        if query.cell is not None:
            rows = rows.filter(cell=query.cell)
        if query.since is not None:
            rows = rows.filter(target__gte=query.since)
        rows = rows.order_by("cell", "target", "origin")
        page = list(rows.values(*COLUMNS)[query.offset:query.offset + query.limit])
        return rows.count(), page

    def prune(self, *, before: datetime) -> int:
        return StoredForecast.objects.filter(created_at__lt=before).delete()[0]

    def closed(self, *, field: str, since: datetime, until: datetime, limit: int) -> dict[str, np.ndarray]:
        from django.db.models import Q

        # Closed: target + window_seconds <= until, as one condition per window length (few of
        # them), which every database runs (SQLite has no integer × interval).
        rows = StoredForecast.objects.filter(field=field, target__gte=since, target__lte=until)
        lengths = rows.order_by().values_list("window_seconds", flat=True).distinct()
        closed = Q(pk__in=[])
        for seconds in lengths:
            closed |= Q(window_seconds=seconds, target__lte=until - timedelta(seconds=seconds))
        found = (rows.filter(closed).order_by("-target")
                 .values_list("cell", "model_id", "model_name", "version", "step", "target", "window_seconds",
                              "value", "lower", "upper")[:limit])
        return _closed_columns(list(found))


LATEST_COLUMNS = ("cell", "origin", "model_name", "version", "window_seconds", "values", "worst")
COLUMNS = ("field", "cell", "model_id", "model_name", "version", "origin", "step", "target", "window_seconds",
           "value", "lower", "upper", "created_at")


class ClickHouseStore(ForecastStore):
    name = "ClickHouse"

    def __init__(self, dsn: str, table: str, retention_days: int) -> None:
        if not _TABLE.match(table):
            raise ValueError(f"not a table name: {table!r}")
        self.dsn, self.table, self.retention_days = dsn, table, retention_days
        self._ready = False

    def _client(self):
        from telemetry.clickhouse import get_client

        try:
            client = get_client(self.dsn)
            if not self._ready:
                self._create(client)
                self._ready = True
            return client
        except DependencyDown:
            raise
        except Exception as error:  # the driver raises many types; all mean "cannot reach it"
            raise DependencyDown("ClickHouse", f"{type(error).__name__}: {str(error)[:300]}") from error

    def _create(self, client) -> None:
        database, _, _ = self.table.rpartition(".")
        if database:
            client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        ttl = f" TTL created_at + INTERVAL {int(self.retention_days)} DAY" if self.retention_days else ""
        client.command(
            f"CREATE TABLE IF NOT EXISTS {self.table} (field LowCardinality(String), cell Int64, model_id UUID, "
            "model_name LowCardinality(String), version UInt32, origin DateTime('UTC'), step UInt16, "
            "target DateTime('UTC'), window_seconds UInt32, value Float64, lower Nullable(Float64), "
            "upper Nullable(Float64), created_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree(created_at) ORDER BY (field, cell, target, origin)" + ttl)
        # Each cell's newest forecast: the row with the greatest origin wins (read with FINAL).
        client.command(
            f"CREATE TABLE IF NOT EXISTS {self.table}_latest (field LowCardinality(String), cell Int64, "
            "model_name LowCardinality(String), version UInt32, origin DateTime('UTC'), window_seconds UInt32, "
            "values Array(Float64), worst Float64, created_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree(origin) ORDER BY (field, cell)" + ttl)

    def _run(self, call):
        try:
            return call(self._client())
        except DependencyDown:
            raise
        except Exception as error:
            raise DependencyDown("ClickHouse", f"{type(error).__name__}: {str(error)[:300]}") from error

    def _append(self, result: BatchResult, created: datetime) -> None:
        import pyarrow as pa

        n, steps, ws = len(result.forecasts), result.steps, result.window_seconds
        cells = np.repeat(np.array([f.cell_id for f in result.forecasts], dtype=np.int64), steps)
        origins = np.repeat(np.array([f.origin for f in result.forecasts], dtype=np.int64), steps)
        step = np.tile(np.arange(1, steps + 1, dtype=np.uint16), n)
        values = np.concatenate([f.values for f in result.forecasts]).astype(np.float64)
        entry = result.entry
        block = pa.table({
            "field": pa.array([result.output_field] * len(cells)),
            "cell": pa.array(cells),
            "model_id": pa.array([str(entry.model_id)] * len(cells)),
            "model_name": pa.array([entry.model_name] * len(cells)),
            "version": pa.array(np.full(len(cells), entry.version, dtype=np.uint32)),
            "origin": pa.array(origins * 1000, pa.timestamp("ms", tz="UTC")),
            "step": pa.array(step),
            "target": pa.array((origins + (step.astype(np.int64) - 1) * ws) * 1000, pa.timestamp("ms", tz="UTC")),
            "window_seconds": pa.array(np.full(len(cells), ws, dtype=np.uint32)),
            "value": pa.array(values),
            "lower": _nullable(_band_column(result, "lower"), len(cells)),
            "upper": _nullable(_band_column(result, "upper"), len(cells)),
            "created_at": pa.array(np.full(len(cells), int(created.timestamp() * 1000)), pa.timestamp("ms", tz="UTC")),
        })
        self._insert(self.table, block)

    def _append_latest(self, result: BatchResult, created: datetime) -> None:
        import pyarrow as pa

        n = len(result.forecasts)
        values = np.stack([f.values for f in result.forecasts]).astype(np.float64)
        entry = result.entry
        self._insert(f"{self.table}_latest", pa.table({
            "field": pa.array([result.output_field] * n),
            "cell": pa.array(np.array([f.cell_id for f in result.forecasts], dtype=np.int64)),
            "model_name": pa.array([entry.model_name] * n),
            "version": pa.array(np.full(n, entry.version, dtype=np.uint32)),
            "origin": pa.array(np.array([f.origin for f in result.forecasts], dtype=np.int64) * 1000,
                               pa.timestamp("ms", tz="UTC")),
            "window_seconds": pa.array(np.full(n, result.window_seconds, dtype=np.uint32)),
            "values": pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1]).cast(
                pa.list_(pa.float64())),
            "worst": pa.array(_worst(result)),
            "created_at": pa.array(np.full(n, int(created.timestamp() * 1000)), pa.timestamp("ms", tz="UTC")),
        }))

    def _insert(self, table: str, block) -> None:
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(block, buffer, compression="lz4")
        self._run(lambda c: c.raw_insert(table, column_names=block.column_names, insert_block=buffer.getvalue(),
                                         fmt="Parquet"))

    def latest(self, latest: Latest) -> tuple[int, list[dict]]:
        where = "field = {field:String}"
        parameters: dict[str, object] = {"field": latest.field}
        if latest.search:
            where += " AND startsWith(toString(cell), {search:String})"
            parameters["search"] = latest.search
        order = ", ".join(f"{key[1:]} DESC" if key.startswith("-") else key for key in latest.order())
        table = f"{self.table}_latest"
        count = self._run(lambda c: c.query(f"SELECT count() FROM {table} FINAL WHERE {where}",
                                            parameters=parameters).result_rows[0][0])
        rows = self._run(lambda c: c.query(
            f"SELECT {', '.join(LATEST_COLUMNS)} FROM {table} FINAL WHERE {where} ORDER BY {order} "
            f"LIMIT {int(latest.limit)} OFFSET {int(latest.offset)}", parameters=parameters).result_rows)
        out = []
        for row in rows:
            item = dict(zip(LATEST_COLUMNS, row, strict=True))
            item["origin"] = item["origin"].replace(tzinfo=UTC) if item["origin"].tzinfo is None else item["origin"]
            item["values"] = [float(v) for v in item["values"]]
            out.append(item)
        return int(count), out

    def latest_fields(self) -> list[str]:
        return [r[0] for r in self._run(lambda c: c.query(
            f"SELECT DISTINCT field FROM {self.table}_latest ORDER BY field").result_rows)]

    def query(self, query: Query) -> tuple[int, list[dict]]:
        where = ["field = {field:String}"]
        parameters: dict[str, object] = {"field": query.field}
        if query.cell is not None:
            where.append("cell = {cell:Int64}")
            parameters["cell"] = query.cell
        if query.since is not None:
            where.append("target >= toDateTime({since:Int64}, 'UTC')")
            parameters["since"] = int(query.since.timestamp())
        condition = " AND ".join(where)
        count = self._run(lambda c: c.query(f"SELECT count() FROM {self.table} FINAL WHERE {condition}",
                                            parameters=parameters).result_rows[0][0])
        columns = ", ".join(COLUMNS)
        rows = self._run(lambda c: c.query(
            f"SELECT {columns} FROM {self.table} FINAL WHERE {condition} ORDER BY cell, target, origin "
            f"LIMIT {int(query.limit)} OFFSET {int(query.offset)}", parameters=parameters).result_rows)
        return int(count), [_clickhouse_row(r) for r in rows]

    def prune(self, *, before: datetime) -> int:
        return 0  # the table's TTL drops old rows in its merges

    def closed(self, *, field: str, since: datetime, until: datetime, limit: int) -> dict[str, np.ndarray]:
        parameters = {"field": field, "since": int(since.timestamp()), "until": int(until.timestamp())}
        rows = self._run(lambda c: c.query(
            "SELECT cell, toString(model_id), model_name, version, step, target, window_seconds, value, lower, upper "
            f"FROM {self.table} FINAL WHERE field = {{field:String}} AND target >= toDateTime({{since:Int64}}, 'UTC') "
            "AND toUnixTimestamp(target) + window_seconds <= {until:Int64} "
            f"ORDER BY target DESC LIMIT {int(limit)}", parameters=parameters).result_rows)
        return _closed_columns(rows)


CLOSED_COLUMNS = ("cell", "model_id", "model_name", "version", "step", "target", "window_seconds", "value",
                  "lower", "upper")


def _closed_columns(rows: list[tuple]) -> dict[str, np.ndarray]:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(CLOSED_COLUMNS)
    out = dict(zip(CLOSED_COLUMNS, columns, strict=True))
    targets = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in out["target"]]
    return {
        "cell": np.array(out["cell"], np.int64), "model_id": np.array([str(m) for m in out["model_id"]], object),
        "model_name": np.array(out["model_name"], object), "version": np.array(out["version"], np.int64),
        "step": np.array(out["step"], np.int64),
        "target": np.array([int(t.timestamp()) for t in targets], np.int64),
        "window_seconds": np.array(out["window_seconds"], np.int64),
        "value": np.array(out["value"], np.float64),
        "lower": np.array([np.nan if v is None else v for v in out["lower"]], np.float64),
        "upper": np.array([np.nan if v is None else v for v in out["upper"]], np.float64),
    }


def _nullable(values: np.ndarray | None, n: int):
    import pyarrow as pa

    return pa.nulls(n, pa.float64()) if values is None else pa.array(values)


def _clickhouse_row(row: tuple) -> dict:
    out = dict(zip(COLUMNS, row, strict=True))
    for key in ("origin", "target", "created_at"):
        value = out[key]
        out[key] = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    out["cell"], out["version"], out["step"] = int(out["cell"]), int(out["version"]), int(out["step"])
    return out


_stores: dict[tuple, ForecastStore] = {}


def get_store() -> ForecastStore:
    """The store the settings choose (built once per process and per settings)."""
    kind = settings.FORECAST_STORE
    if kind == "auto":
        kind = "clickhouse" if settings.CLICKHOUSE_DSN else "database"
    if kind == "clickhouse" and not settings.CLICKHOUSE_DSN:
        raise ValueError("FORECAST_STORE=clickhouse needs CLICKHOUSE_DSN")
    key = (kind, settings.CLICKHOUSE_DSN, settings.FORECAST_CLICKHOUSE_TABLE, settings.FORECAST_RETENTION_DAYS)
    if key not in _stores:
        _stores[key] = (ClickHouseStore(str(settings.CLICKHOUSE_DSN), settings.FORECAST_CLICKHOUSE_TABLE,
                                        settings.FORECAST_RETENTION_DAYS) if kind == "clickhouse" else DatabaseStore())
    return _stores[key]


def prune() -> dict:
    """Delete stored forecasts (and latest rows) past FORECAST_RETENTION_DAYS; 0 keeps all."""
    days = settings.FORECAST_RETENTION_DAYS
    if not days:
        return {"forecasts": 0, "latest": 0}
    before = timezone.now() - timedelta(days=days)
    return {"forecasts": get_store().prune(before=before),
            "latest": LatestForecast.objects.filter(updated_at__lt=before).delete()[0]}  # database store
