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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from django.conf import settings

from core import resilience
from core.errors import DependencyDown, Invalid
from telemetry.base import TelemetrySource
from telemetry.batch import WindowBatch

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_METADATA = ("window_start_time", "window_end_time", "window_duration_seconds", "cell_index", "sample_count")
# The first pass of a latest-windows read looks this far back (plus twice the windows asked for):
# room for a feed that arrives late.
LATEST_RECENT_SECONDS = 3600
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def get_client(dsn: str) -> Any:
    """One client per DSN per process (chdb allows only one engine path per process). A server
    is read within CLICKHOUSE_CONNECT_TIMEOUT_SECONDS / _READ_TIMEOUT_SECONDS: the driver's own
    defaults let a hung server hold a request for 300 s (in-process chdb cannot hang)."""
    import clickhouse_connect

    with _clients_lock:
        if dsn not in _clients:
            timeouts: dict[str, Any] = {} if dsn.startswith("chdb") else {
                "connect_timeout": settings.CLICKHOUSE_CONNECT_TIMEOUT_SECONDS,
                "send_receive_timeout": settings.CLICKHOUSE_READ_TIMEOUT_SECONDS}
            _clients[dsn] = clickhouse_connect.get_client(dsn=dsn, **timeouts)
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

    def identity(self) -> str:
        return f"{self.key} {self.dsn} {self.schema} {self.table}"

    def _call(self, run: Callable[[Any], Any]) -> Any:
        """`run(client)` under `core.resilience`: a server that cannot be reached or does not
        answer (the driver's OperationalError) is retried as the profile says and feeds the
        breaker, so after BREAKER_FAILURES such calls requests fail at once instead of each
        waiting out the read timeout. Any other driver error (a query it refused) is a 503 at once."""
        from clickhouse_connect.driver.exceptions import OperationalError

        try:
            return resilience.call(
                self.name, lambda timeout: run(get_client(self.dsn)), timeout=settings.CLICKHOUSE_READ_TIMEOUT_SECONDS,
                retryable=lambda error: isinstance(error, OperationalError),
                describe=lambda error: f"{type(error).__name__}: {str(error)[:300]}", key=f"clickhouse {self.dsn}")
        except DependencyDown:
            raise
        except Exception as error:  # the driver raises many types; all mean "cannot read"
            raise DependencyDown(self.name, f"{type(error).__name__}: {str(error)[:300]}") from error

    def _query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        return self._call(lambda client: client.query(sql, parameters=parameters or {}).result_rows)

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
                parts.append(f"if(mapContains(metrics, {{f{i}:String}}), metrics[{{f{i}:String}}], NULL) AS v{i}")
        else:
            for field in fields:
                if not _IDENTIFIER.match(field) or "." in field:
                    raise Invalid(f"not a column name: {field!r}")
            parts = [f"`{f}` AS v{i}" for i, f in enumerate(fields)]
        columns = ["cell_index", "toUnixTimestamp(window_start_time) AS s", "toUnixTimestamp(window_end_time) AS e",
                   "sample_count", *parts]
        return ", ".join(columns), parameters

    def _read(self, sql: str, parameters: dict[str, Any], *, cells: np.ndarray, window_seconds: int,
              fields: Sequence[str], dtype: np.dtype) -> WindowBatch:
        """Run a query of `_select` columns and read its answer column-wise (Arrow → numpy)."""
        table = self._call(lambda client: client.query_arrow(sql, parameters=parameters))
        values = np.empty((table.num_rows, len(fields)), dtype=dtype)
        for j in range(len(fields)):
            values[:, j] = table.column(4 + j).to_numpy()  # nulls arrive as NaN
        return WindowBatch.build(
            cells=cells, window_seconds=window_seconds, fields=fields, cell_index=table.column(0).to_numpy(),
            start=table.column(1).to_numpy(), end=table.column(2).to_numpy(), values=values,
            sample_count=table.column(3).to_numpy(), dtype=dtype,
        )

    def _windows_chunk(self, *, cells: np.ndarray, window_seconds: int, start: int, end: int,
                       fields: Sequence[str], dtype: np.dtype) -> WindowBatch:
        select, parameters = self._select(fields)
        sql = (
            f"SELECT {select} FROM {self.table} WHERE cell_index IN {{cells:Array(Int64)}} "
            "AND window_duration_seconds = {ws:Float64} AND sample_count > 0 "
            "AND window_start_time >= toDateTime64({start:Int64}, 3) "
            "AND window_end_time <= toDateTime64({end:Int64}, 3) "
            "ORDER BY cell_index, window_start_time"
        )
        parameters.update(cells=cells.tolist(), ws=float(window_seconds), start=start, end=end)
        return self._read(sql, parameters, cells=cells, window_seconds=window_seconds, fields=fields, dtype=dtype)

    def _latest_chunk(self, *, cells: np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
                      dtype: np.dtype) -> WindowBatch:
        """Two passes. Most cells have their latest windows in the last moments: the first pass
        reads only the recent span (a scan bounded by time, which skips old data when cells keep
        a long history, and can use a projection ordered by time) and keeps each cell's last
        `count`. Cells it leaves short (silent lately, sparse, unknown) are read again without
        the bound, `LIMIT n BY cell_index` on the server."""
        recent = self.now() - 2 * count * window_seconds - LATEST_RECENT_SECONDS
        select, parameters = self._select(fields)
        sql = (
            f"SELECT {select} FROM {self.table} WHERE cell_index IN {{cells:Array(Int64)}} "
            "AND window_duration_seconds = {ws:Float64} AND sample_count > 0 "
            "AND window_start_time >= toDateTime64({since:Int64}, 3)"
        )
        parameters.update(cells=cells.tolist(), ws=float(window_seconds), since=recent)
        batch = self._read(sql, parameters, cells=cells, window_seconds=window_seconds, fields=fields,
                           dtype=dtype).tail(count)
        short = batch.cells[batch.counts < count]
        if not len(short):
            return batch
        rest = self._latest_query(short, window_seconds, count, fields, dtype)
        return WindowBatch.concat([batch.take_cells(batch.cells[batch.counts >= count]), rest])

    def _latest_query(self, cells: np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
                      dtype: np.dtype) -> WindowBatch:
        select, parameters = self._select(fields)
        sql = (
            f"SELECT {select} FROM {self.table} WHERE cell_index IN {{cells:Array(Int64)}} "
            "AND window_duration_seconds = {ws:Float64} AND sample_count > 0 "
            "ORDER BY cell_index, window_start_time DESC LIMIT {n:UInt32} BY cell_index"
        )
        parameters.update(cells=cells.tolist(), ws=float(window_seconds), n=count)
        return self._read(sql, parameters, cells=cells, window_seconds=window_seconds, fields=fields, dtype=dtype)

    def check(self) -> None:
        self._query("SELECT 1")
