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

Both backends also keep each cell's latest forecast in the database (`LatestForecast`: one row
per field and cell, upserted), which the Network page sorts and searches without scanning history.
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


class ForecastStore(ABC):
    name: str

    @abstractmethod
    def _append(self, result: BatchResult, created: datetime) -> None:
        """Append every forecast of `result` (idempotent per field, cell, origin, step)."""

    @abstractmethod
    def query(self, query: Query) -> tuple[int, list[dict]]:
        """(count, one page of rows) ordered by cell, target, origin."""

    @abstractmethod
    def prune(self, *, before: datetime) -> int:
        """Delete forecasts made before `before`; how many (ClickHouse: its TTL does it, 0)."""

    def write(self, result: BatchResult) -> int:
        """Store the forecasts of one chunk and refresh each cell's latest; rows written."""
        if not result.forecasts:
            return 0
        created = timezone.now()
        self._append(result, created)
        _write_latest(result, created)
        return len(result.forecasts) * result.steps


def _rows(result: BatchResult, created: datetime):
    entry, ws = result.entry, result.window_seconds
    for forecast in result.forecasts:
        origin = datetime.fromtimestamp(forecast.origin, UTC)
        for k, value in enumerate(forecast.values):
            yield dict(field=result.output_field, cell=forecast.cell_id, model_id=entry.model_id,
                       model_name=entry.model_name, version=entry.version, origin=origin, step=k + 1,
                       target=origin + timedelta(seconds=k * ws), window_seconds=ws, value=float(value),
                       created_at=created)


@transaction.atomic
def _write_latest(result: BatchResult, created: datetime) -> None:
    worse_high = higher_is_worse(result.output_field)
    rows = []
    for forecast in result.forecasts:
        values = [float(v) for v in forecast.values]
        rows.append(LatestForecast(
            field=result.output_field, cell=forecast.cell_id, model_id=result.entry.model_id,
            model_name=result.entry.model_name, version=result.entry.version,
            origin=datetime.fromtimestamp(forecast.origin, UTC), window_seconds=result.window_seconds,
            values=values, worst=max(values) if worse_high else min(values), updated_at=created))
    LatestForecast.objects.bulk_create(
        rows, batch_size=2000, update_conflicts=True, unique_fields=["field", "cell"],
        update_fields=["model_id", "model_name", "version", "origin", "window_seconds", "values", "worst",
                       "updated_at"])


class DatabaseStore(ForecastStore):
    name = "database"

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

    def _run(self, call):
        try:
            return call(self._client())
        except DependencyDown:
            raise
        except Exception as error:
            raise DependencyDown("ClickHouse", f"{type(error).__name__}: {str(error)[:300]}") from error

    def _append(self, result: BatchResult, created: datetime) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

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
            "created_at": pa.array(np.full(len(cells), int(created.timestamp() * 1000)), pa.timestamp("ms", tz="UTC")),
        })
        buffer = io.BytesIO()
        pq.write_table(block, buffer, compression="lz4")
        self._run(lambda c: c.raw_insert(self.table, column_names=block.column_names,
                                         insert_block=buffer.getvalue(), fmt="Parquet"))

    def query(self, query: Query) -> tuple[int, list[dict]]:
        where, parameters = ["field = {field:String}"], {"field": query.field}
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
        _stores[key] = (ClickHouseStore(settings.CLICKHOUSE_DSN, settings.FORECAST_CLICKHOUSE_TABLE,
                                        settings.FORECAST_RETENTION_DAYS) if kind == "clickhouse" else DatabaseStore())
    return _stores[key]


def prune() -> dict:
    """Delete stored forecasts (and latest rows) past FORECAST_RETENTION_DAYS; 0 keeps all."""
    days = settings.FORECAST_RETENTION_DAYS
    if not days:
        return {"forecasts": 0, "latest": 0}
    before = timezone.now() - timedelta(days=days)
    return {"forecasts": get_store().prune(before=before),
            "latest": LatestForecast.objects.filter(updated_at__lt=before).delete()[0]}
