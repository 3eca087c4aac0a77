"""`DataStorageSource`: an httpx client for the upstream Data Storage API (era A and era B).

Rows come newest first with no total: page with `offset += limit` until a short page, then
sort ascending. Timestamps may be ints or ISO strings (naive means UTC); a missing key or null
is NaN, never 0; `sample_count == 0` or `is_empty_window` marks an empty window (a gap).
5xx answers, timeouts and connection errors are retried by `core.resilience` (tenacity):
within a few seconds on a request path, patiently for training (background); 4xx is not. While
the API is known to be down (its breaker is open), request-path calls fail at once.
Many-cell reads run `concurrency` cells at a time on threads, each request through `_get`.
"""

from __future__ import annotations

import contextvars
import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from core import resilience
from core.errors import UpstreamRejected
from telemetry.base import TelemetrySource
from telemetry.batch import WindowBatch


class _ServerError(Exception):
    """A 5xx answer: worth retrying."""


def _retryable(error: BaseException) -> bool:
    return isinstance(error, (_ServerError, httpx.TransportError))


def _describe(url: str, error: BaseException) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"no answer from {url} in time"
    if isinstance(error, httpx.TransportError):
        return f"cannot connect to {url}: {error}"
    return str(error)


def to_epoch(value: Any) -> int:
    """Int/float epoch seconds or an ISO-8601 string (naive = UTC) → int epoch seconds."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return int(round(value))
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(round(parsed.timestamp()))


def epochs(column: list[Any]) -> np.ndarray:
    """`to_epoch` over a column of one page, parsed in C for the two shapes the API sends:
    all ints (era A) or all ISO strings without offset or fraction (era B)."""
    kinds = set(map(type, column))
    if kinds <= {int}:
        return np.array(column, dtype=np.int64)
    if kinds == {str} and set(map(len, column)) == {19} and not any(map(str.isdigit, column)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (not fails) on an offset
            try:
                return np.array(column, dtype="datetime64[s]").astype(np.int64)  # naive = UTC
            except (ValueError, Warning):
                pass
    return np.array([to_epoch(v) for v in column], dtype=np.int64)


def floats(column: list[Any]) -> np.ndarray:
    """`to_float` over a column, in C when it holds only numbers and nulls (None → NaN)."""
    if set(map(type, column)) <= {float, int, type(None)}:
        return np.array(column, dtype=np.float64)
    return np.array([to_float(v) for v in column], dtype=np.float64)


def _is_empty(row: dict[str, Any]) -> bool:
    return row.get("sample_count") == 0 or bool(row.get("is_empty_window"))


def to_float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class DataStorageSource(TelemetrySource):
    key = "data_storage"
    name = "Data Storage API"

    def __init__(
        self,
        base_url: str,
        *,
        data_endpoint: str = "/api/v1/processed",
        example_endpoint: str = "/api/v1/processed/example",
        cell_endpoint: str = "/api/v1/cell",
        component_id: str | None = None,
        token: str | None = None,
        page_size: int = 1000,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        data_timeout: float = 60.0,
        example_timeout: float = 10.0,
        cell_timeout: float = 30.0,
        concurrency: int = 8,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if component_id:
            headers["X-Component-ID"] = component_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.data_endpoint = data_endpoint
        self.example_endpoint = example_endpoint
        self.cell_endpoint = cell_endpoint
        self.page_size = page_size
        # None: the profile's (core.resilience); a number overrides it for this client.
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.timeouts = {"data": data_timeout, "example": example_timeout, "cell": cell_timeout}
        self.concurrency = max(1, int(concurrency))  # requests in flight for a many-cell read
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=max(20, self.concurrency))
        self.client = httpx.Client(headers=headers, transport=transport, limits=limits)

    def identity(self) -> str:
        return f"{self.key} {self.base_url} {self.data_endpoint}"

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _get(self, path: str, *, kind: str, params: dict[str, Any] | None = None) -> Any:
        """One GET, retried under the current profile; the JSON body."""
        url = self._url(path)

        def attempt(timeout: float) -> httpx.Response:
            response = self.client.get(url, params=params, timeout=timeout)
            if response.status_code >= 500:
                raise _ServerError(f"HTTP {response.status_code} from {url}: {response.text[:200]}")
            return response

        response = resilience.call(
            self.name, attempt, key=f"{self.name} {self.base_url}", timeout=self.timeouts[kind],
            retryable=_retryable, describe=lambda error: _describe(url, error),
            attempts=None if self.retries is None else self.retries + 1, backoff_seconds=self.backoff_seconds,
        )
        if response.status_code >= 400:
            raise UpstreamRejected(self.name, f"HTTP {response.status_code} from {url}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError as error:
            raise UpstreamRejected(self.name, f"{url} did not return JSON") from error

    def columns(self) -> list[str]:
        example = self._get(self.example_endpoint, kind="example")
        if not isinstance(example, list) or not example or not isinstance(example[0], dict):
            raise UpstreamRejected(self.name, f"{self.example_endpoint} did not return a list of rows")
        return list(example[0].keys())

    def cells(self) -> list[int]:
        cells = self._get(self.cell_endpoint, kind="cell")
        if not isinstance(cells, list):
            raise UpstreamRejected(self.name, f"{self.cell_endpoint} did not return a list")
        return sorted({int(c) for c in cells})

    def fetch_rows(self, *, cell_index: int, window_seconds: int, start: int, end: int,
                   max_windows: int | None = None) -> list[dict[str, Any]]:
        """Raw rows of one cell, newest first as the API sends them, across as many pages as
        needed; with `max_windows`, only until that many non-empty windows are in."""
        rows: list[dict[str, Any]] = []
        offset, found = 0, 0
        while True:
            limit = self.page_size if max_windows is None else min(self.page_size, max_windows - found)
            page = self._get(self.data_endpoint, kind="data", params={
                "start_time": int(start), "end_time": int(end), "cell_index": int(cell_index),
                "window_duration_seconds": int(window_seconds), "offset": offset, "limit": limit,
            })
            if not isinstance(page, list):
                raise UpstreamRejected(self.name, f"{self.data_endpoint} did not return a list of rows")
            rows.extend(page)
            offset += limit
            if max_windows is not None:
                found += sum(1 for row in page if not _is_empty(row))
            if len(page) < limit or (max_windows is not None and found >= max_windows):
                return rows

    def _each_cell(self, cells: np.ndarray, read: Callable[[int], list[dict[str, Any]]]) -> list[list[dict]]:
        """`read(cell)` for every cell, `concurrency` cells at a time; each request is retried on
        its own by `_get`, and the first error ends the whole read (queued cells are dropped).
        Each read runs in a copy of the caller's context (context variables such as the retry
        profile and the log's job id do not cross into threads by themselves)."""
        if self.concurrency == 1 or len(cells) < 2:
            return [read(cell) for cell in cells.tolist()]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(cells)), thread_name_prefix="data-storage")
        try:
            futures = [pool.submit(contextvars.copy_context().run, read, cell) for cell in cells.tolist()]
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _windows_chunk(self, *, cells: np.ndarray, window_seconds: int, start: int, end: int,
                       fields: Sequence[str], dtype: np.dtype) -> WindowBatch:
        def read(cell: int) -> list[dict[str, Any]]:
            return self.fetch_rows(cell_index=cell, window_seconds=window_seconds, start=start, end=end)

        return self._batch(cells, self._each_cell(cells, read), window_seconds=window_seconds, fields=fields,
                           dtype=dtype)

    def _latest_chunk(self, *, cells: np.ndarray, window_seconds: int, count: int, fields: Sequence[str],
                      dtype: np.dtype) -> WindowBatch:
        now = self.now()

        def read(cell: int) -> list[dict[str, Any]]:
            # Newest first: the first `count` non-empty rows are the latest windows.
            return self.fetch_rows(cell_index=cell, window_seconds=window_seconds, start=0, end=now,
                                   max_windows=count)

        batch = self._batch(cells, self._each_cell(cells, read), window_seconds=window_seconds, fields=fields,
                            dtype=dtype)
        return batch.tail(count)

    def _batch(self, cells: np.ndarray, pages: list[list[dict[str, Any]]], *, window_seconds: int,
               fields: Sequence[str], dtype: np.dtype) -> WindowBatch:
        """Each cell's rows (newest first) → one batch."""
        rows = [row for cell_rows in pages for row in reversed(cell_rows)]  # ascending: no sort needed
        try:
            start = epochs([r["window_start_time"] for r in rows])
            end = epochs([r["window_end_time"] for r in rows])
        except (KeyError, ValueError) as error:
            raise UpstreamRejected(self.name, f"a row has no usable window time: {error}") from error
        values = np.empty((len(rows), len(fields)), dtype=dtype)
        for j, field in enumerate(fields):
            values[:, j] = floats([r.get(field) for r in rows])
        # A row without a sample count is taken as non-empty; only 0 or the flag marks a gap.
        counts = floats([r.get("sample_count") for r in rows])
        counts = np.where(np.isnan(counts), 1, counts).astype(np.int64)
        empty = [bool(r.get("is_empty_window")) for r in rows]
        return WindowBatch.build(
            cells=cells, window_seconds=window_seconds, fields=fields,
            cell_index=np.repeat(cells, [len(p) for p in pages]), start=start, end=end,
            values=values, sample_count=counts, empty=empty, dtype=dtype,
        )

    def check(self) -> None:
        self.columns()
