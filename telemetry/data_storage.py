"""`DataStorageSource`: an httpx client for the upstream Data Storage API (era A and era B).

Rows come newest first with no total: page with `offset += limit` until a short page, then
sort ascending. Timestamps may be ints or ISO strings (naive means UTC); a missing key or null
is NaN, never 0; `sample_count == 0` or `is_empty_window` marks an empty window (a gap).
5xx answers, timeouts and connection errors are retried by `core.resilience` (tenacity):
within a few seconds on a request path, patiently for training (background); 4xx is not. While
the API is known to be down (its breaker is open), request-path calls fail at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from core import resilience
from core.errors import UpstreamRejected
from telemetry.base import TelemetrySource
from telemetry.frame import WindowFrame


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
        self.client = httpx.Client(headers=headers, transport=transport)

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
                   max_rows: int | None = None) -> list[dict[str, Any]]:
        """Raw rows, newest first as the API sends them, across as many pages as needed."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            limit = self.page_size if max_rows is None else min(self.page_size, max_rows - len(rows))
            page = self._get(self.data_endpoint, kind="data", params={
                "start_time": int(start), "end_time": int(end), "cell_index": int(cell_index),
                "window_duration_seconds": int(window_seconds), "offset": offset, "limit": limit,
            })
            if not isinstance(page, list):
                raise UpstreamRejected(self.name, f"{self.data_endpoint} did not return a list of rows")
            rows.extend(page)
            offset += limit
            if len(page) < limit or (max_rows is not None and len(rows) >= max_rows):
                return rows

    def windows(
        self, *, cell_index: int, window_seconds: int, start: int, end: int, fields: Sequence[str]
    ) -> WindowFrame:
        rows = self.fetch_rows(cell_index=cell_index, window_seconds=window_seconds, start=start, end=end)
        return self._frame(rows, cell_index=cell_index, window_seconds=window_seconds, fields=fields)

    def latest_windows(
        self, *, cell_index: int, window_seconds: int, count: int, fields: Sequence[str]
    ) -> WindowFrame:
        # Newest first: the first `count` rows are the latest windows (plus empty ones we drop).
        rows = self.fetch_rows(
            cell_index=cell_index, window_seconds=window_seconds, start=0, end=self.now(), max_rows=count,
        )
        return self._frame(rows, cell_index=cell_index, window_seconds=window_seconds, fields=fields).tail(count)

    def _frame(self, rows: list[dict[str, Any]], *, cell_index: int, window_seconds: int,
               fields: Sequence[str]) -> WindowFrame:
        try:
            start = [to_epoch(r["window_start_time"]) for r in rows]
            end = [to_epoch(r["window_end_time"]) for r in rows]
        except (KeyError, ValueError) as error:
            raise UpstreamRejected(self.name, f"a row has no usable window time: {error}") from error
        values = np.array([[to_float(r.get(f)) for f in fields] for r in rows], dtype=np.float64)
        # A row without a sample count is taken as non-empty; only 0 or the flag marks a gap.
        counts = [1 if r.get("sample_count") is None else int(r["sample_count"]) for r in rows]
        empty = [bool(r.get("is_empty_window")) for r in rows]
        return WindowFrame.build(
            cell_index=cell_index, window_seconds=window_seconds, fields=fields,
            start=start, end=end, values=values.reshape(len(rows), len(fields)),
            sample_count=counts, empty=empty,
        )

    def check(self) -> None:
        self.columns()
