"""The latest windows of a cell, reused until its next window closes.

New windows arrive only when a window ends, so the latest windows of a cell read at time t stay
its latest until the window open at t closes (windows sit on the grid of multiples of their
duration since the epoch, as every source aligns them), plus `LATEST_WINDOWS_CACHE_LAG_SECONDS`
for the upstream to write it. Until then a forecast, a batch or a readiness scan of that cell
reads the Django cache (per process by default; shared by every process and machine with
`CACHE_URL` on Redis) instead of the source: a repeated forecast costs the forward pass.

Key: (source identity, cell, window duration, count, fields, dtype). Value: the window arrays as
raw numpy bytes behind a small header holding the instant the entry expires, checked on every
read (a backend's whole-second TTL alone could serve a window late). A cache that fails (Redis
down) is skipped: reads go to the source, as without the cache.

    frame = latest_cache.latest_windows(source, cell_index=c, window_seconds=60, count=12, fields=f)
    for batch in latest_cache.latest_windows_chunks(source, cells=cells, window_seconds=60, count=12, fields=f):
        ...
"""

from __future__ import annotations

import hashlib
import logging
import math
import struct
import time
from collections.abc import Iterator, Sequence

import numpy as np
from django.conf import settings
from django.core.cache import cache

from telemetry.base import TelemetrySource, chunk_cells
from telemetry.batch import WindowBatch, as_cells, value_dtype
from telemetry.frame import WindowFrame

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<dq")  # expires at (epoch seconds), windows
clock = time.time  # the wall clock: windows close on it, whatever the source's own clock says


def expires_at(window_seconds: int, now: float | None = None) -> float:
    """When the next window will have closed and the upstream had its lag to write it. Read
    within the lag after a close, the window just closed may not be written yet: such a read
    expires at the end of that lag."""
    now = clock() if now is None else now
    lag = settings.LATEST_WINDOWS_CACHE_LAG_SECONDS
    return (math.floor((now - lag) / window_seconds) + 1) * window_seconds + lag


def _prefix(source: TelemetrySource, window_seconds: int, count: int, fields: Sequence[str], dtype: np.dtype) -> str:
    what = f"{source.identity()}|{int(window_seconds)}|{int(count)}|{','.join(fields)}|{dtype.str}"
    return "cellwise:latest:" + hashlib.sha1(what.encode()).hexdigest()[:20] + ":"


def pack(frame: WindowFrame, expires: float) -> bytes:
    return b"".join((_HEADER.pack(expires, len(frame)), np.ascontiguousarray(frame.start, np.int64).tobytes(),
                     np.ascontiguousarray(frame.end, np.int64).tobytes(),
                     np.ascontiguousarray(frame.sample_count, np.int64).tobytes(),
                     np.ascontiguousarray(frame.values).tobytes()))


def unpack(data: bytes, *, cell_index: int, window_seconds: int, fields: Sequence[str],
           dtype: np.dtype) -> tuple[float, WindowFrame]:
    expires, n = _HEADER.unpack_from(data)
    at = _HEADER.size
    start = np.frombuffer(data, np.int64, n, at)
    end = np.frombuffer(data, np.int64, n, at + 8 * n)
    sample_count = np.frombuffer(data, np.int64, n, at + 16 * n)
    values = np.frombuffer(data, dtype, n * len(fields), at + 24 * n).reshape(n, len(fields))
    gap_before = np.ones(n, dtype=bool)
    gap_before[1:] = start[1:] != end[:-1]
    return expires, WindowFrame(int(cell_index), int(window_seconds), tuple(fields), start, end, values,
                                sample_count, gap_before)


def latest_windows(source: TelemetrySource, *, cell_index: int, window_seconds: int, count: int,
                   fields: Sequence[str]) -> WindowFrame:
    """`source.latest_windows`, from the cache while the cell's latest window is still the latest."""
    fields, dtype = tuple(fields), np.dtype(np.float64)
    if settings.LATEST_WINDOWS_CACHE:  # the hot path of a repeated forecast: one get, no batch
        data = cache_call(cache.get, f"{_prefix(source, window_seconds, count, fields, dtype)}{int(cell_index)}")
        if data is not None:
            expires, frame = unpack(data, cell_index=int(cell_index), window_seconds=int(window_seconds),
                                    fields=fields, dtype=dtype)
            if clock() < expires:
                return frame
    return latest_windows_many(source, cells=[cell_index], window_seconds=window_seconds, count=count,
                               fields=fields).frame(cell_index)


def latest_windows_many(source: TelemetrySource, *, cells: Sequence[int] | np.ndarray, window_seconds: int,
                        count: int, fields: Sequence[str], dtype: type | np.dtype | str = np.float64) -> WindowBatch:
    chunks = list(latest_windows_chunks(source, cells=cells, window_seconds=window_seconds, count=count,
                                        fields=fields, dtype=dtype))
    if not chunks:
        return WindowBatch.empty(cells=[], window_seconds=window_seconds, fields=fields, dtype=dtype)
    return WindowBatch.concat(chunks)


def latest_windows_chunks(source: TelemetrySource, *, cells: Sequence[int] | np.ndarray, window_seconds: int,
                          count: int, fields: Sequence[str], dtype: type | np.dtype | str = np.float64,
                          chunk_size: int | None = None) -> Iterator[WindowBatch]:
    """`source.latest_windows_chunks`: per chunk, the cached cells from the cache (one
    `get_many`), the others from the source in one many-cell read, then stored (one `set_many`)."""
    cells, dtype, fields = as_cells(cells), value_dtype(dtype), tuple(fields)
    size = chunk_size or chunk_cells(count)
    for begin in range(0, len(cells), size):
        chunk = cells[begin:begin + size]
        if not settings.LATEST_WINDOWS_CACHE:
            yield _read(source, chunk, int(window_seconds), int(count), fields, dtype)
            continue
        yield _cached_chunk(source, chunk, int(window_seconds), int(count), fields, dtype)


def _cached_chunk(source: TelemetrySource, cells: np.ndarray, window_seconds: int, count: int,
                  fields: tuple[str, ...], dtype: np.dtype) -> WindowBatch:
    prefix = _prefix(source, window_seconds, count, fields, dtype)
    keys = [f"{prefix}{c}" for c in cells.tolist()]
    found = cache_call(cache.get_many, keys) or {}
    now = clock()
    hits: list[WindowFrame] = []
    missing: list[int] = []
    for cell, key in zip(cells.tolist(), keys, strict=True):
        data = found.get(key)
        if data is not None:
            expires, frame = unpack(data, cell_index=cell, window_seconds=window_seconds, fields=fields, dtype=dtype)
            if now < expires:
                hits.append(frame)
                continue
        missing.append(cell)
    if not missing:
        return WindowBatch.from_frames(hits, window_seconds=window_seconds, fields=fields, dtype=dtype)
    fetched = _read(source, np.asarray(missing, dtype=np.int64), window_seconds, count, fields, dtype)
    expires = expires_at(window_seconds, now)  # from before the read: never later than its data allows
    entries = {f"{prefix}{frame.cell_index}": pack(frame, expires) for frame in fetched.frames()}
    cache_call(cache.set_many, entries, timeout=max(1, math.ceil(expires - now)))
    if not hits:
        return fetched
    return WindowBatch.concat([WindowBatch.from_frames(hits, window_seconds=window_seconds, fields=fields,
                                                       dtype=dtype), fetched])


def _read(source: TelemetrySource, cells: np.ndarray, window_seconds: int, count: int, fields: tuple[str, ...],
          dtype: np.dtype) -> WindowBatch:
    """One many-cell read of the whole chunk (the caller chose its size)."""
    chunks = list(source.latest_windows_chunks(cells=cells, window_seconds=window_seconds, count=count,
                                               fields=fields, dtype=dtype, chunk_size=max(1, len(cells))))
    if not chunks:
        return WindowBatch.empty(cells=[], window_seconds=window_seconds, fields=fields, dtype=dtype)
    return WindowBatch.concat(chunks)


def cache_call(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except Exception as error:  # a cache down costs upstream reads, never the read itself
        log.warning("latest-windows cache unavailable: %s: %s", type(error).__name__, error)
        return None
