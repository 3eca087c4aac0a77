"""`ClickHouseSource`: processed windows straight from ClickHouse via clickhouse-connect.

Two table shapes: era A "wide" (`analytics.processed_latency`, one column per KPI statistic)
and era B "map" (`analytics.processed`, KPI statistics in `metrics Map(String, Float64)`).
A map lookup of a missing key returns 0 in ClickHouse, so era B reads use `mapContains` to
return NULL (NaN) instead. The DSN is `http(s)://…` in production and `chdb://<path>` in tests
(the same ClickHouse engine in-process; one process per path).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import DependencyDown, Invalid
from telemetry.base import TelemetrySource
from telemetry.frame import WindowFrame

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_METADATA = ("window_start_time", "window_end_time", "window_duration_seconds", "cell_index", "sample_count")
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def get_client(dsn: str) -> Any:
    """One client per DSN per process (chdb allows only one engine path per process)."""
    import clickhouse_connect

    with _clients_lock:
        if dsn not in _clients:
            _clients[dsn] = clickhouse_connect.get_client(dsn=dsn)
        return _clients[dsn]


class ClickHouseSource(TelemetrySource):
    key = "clickhouse"
    name = "ClickHouse"

    def __init__(self, dsn: str, *, schema: str = "map", table: str | None = None) -> None:
        if schema not in ("wide", "map"):
            raise ValueError(f"unknown ClickHouse schema {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self.table = table or ("analytics.processed" if schema == "map" else "analytics.processed_latency")
        if not _IDENTIFIER.match(self.table):
            raise ValueError(f"not a table name: {self.table!r}")

    def _query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        try:
            return get_client(self.dsn).query(sql, parameters=parameters or {}).result_rows
        except Exception as error:  # the driver raises many types; all mean "cannot read"
            raise DependencyDown(self.name, f"{type(error).__name__}: {str(error)[:300]}") from error

    def columns(self) -> list[str]:
        database, _, table = self.table.rpartition(".")
        rows = self._query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
            {"db": database or "default", "t": table},
        )
        names = [r[0] for r in rows]
        if self.schema == "wide":
            return names
        keys = self._query(f"SELECT DISTINCT arrayJoin(mapKeys(metrics)) AS k FROM {self.table} ORDER BY k")
        return [n for n in names if n != "metrics"] + [k[0] for k in keys]

    def cells(self) -> list[int]:
        return [int(r[0]) for r in self._query(f"SELECT DISTINCT cell_index FROM {self.table} ORDER BY cell_index")]

    def _select(self, fields: Sequence[str]) -> tuple[str, dict[str, Any]]:
        parameters: dict[str, Any] = {}
        if self.schema == "map":
            parts = []
            for i, field in enumerate(fields):
                parameters[f"f{i}"] = field
                parts.append(f"if(mapContains(metrics, {{f{i}:String}}), metrics[{{f{i}:String}}], NULL)")
        else:
            for field in fields:
                if not _IDENTIFIER.match(field) or "." in field:
                    raise Invalid(f"not a column name: {field!r}")
            parts = [f"`{f}`" for f in fields]
        columns = ["toUnixTimestamp(window_start_time)", "toUnixTimestamp(window_end_time)", "sample_count", *parts]
        return ", ".join(columns), parameters

    def _frame(self, rows: list[tuple], *, cell_index: int, window_seconds: int, fields: Sequence[str]) -> WindowFrame:
        values = np.array([[np.nan if v is None else v for v in r[3:]] for r in rows], dtype=np.float64)
        return WindowFrame.build(
            cell_index=cell_index, window_seconds=window_seconds, fields=fields,
            start=[r[0] for r in rows], end=[r[1] for r in rows],
            values=values.reshape(len(rows), len(fields)), sample_count=[r[2] for r in rows],
        )

    def windows(
        self, *, cell_index: int, window_seconds: int, start: int, end: int, fields: Sequence[str]
    ) -> WindowFrame:
        select, parameters = self._select(fields)
        rows = self._query(
            f"SELECT {select} FROM {self.table} WHERE cell_index = {{cell:Int64}} "
            "AND window_duration_seconds = {ws:Float64} "
            "AND window_start_time >= toDateTime64({start:Int64}, 3) "
            "AND window_end_time <= toDateTime64({end:Int64}, 3) "
            "ORDER BY window_start_time",
            {**parameters, "cell": cell_index, "ws": float(window_seconds), "start": start, "end": end},
        )
        return self._frame(rows, cell_index=cell_index, window_seconds=window_seconds, fields=fields)

    def latest_windows(
        self, *, cell_index: int, window_seconds: int, count: int, fields: Sequence[str]
    ) -> WindowFrame:
        select, parameters = self._select(fields)
        rows = self._query(
            f"SELECT {select} FROM {self.table} WHERE cell_index = {{cell:Int64}} "
            "AND window_duration_seconds = {ws:Float64} AND sample_count > 0 "
            "ORDER BY window_start_time DESC LIMIT {n:UInt32}",
            {**parameters, "cell": cell_index, "ws": float(window_seconds), "n": count},
        )
        return self._frame(rows, cell_index=cell_index, window_seconds=window_seconds, fields=fields)

    def check(self) -> None:
        self._query("SELECT 1")
