"""Which source to use, from settings, and field discovery.

`history_source()` serves training and scoring (time ranges); `latest_source()` serves
inference ("latest windows of a cell"): ClickHouse when a DSN is set, else the history source.
Sources are built once per process and per settings (tests override settings freely).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from telemetry.base import TelemetrySource
from telemetry.clickhouse import ClickHouseSource
from telemetry.data_storage import DataStorageSource
from telemetry.embedded import EmbeddedSource

_built: dict[tuple, TelemetrySource] = {}
_lock = threading.Lock()


def _replay_anchor() -> int | None:
    if not settings.EMBEDDED_REPLAY:
        return None
    if settings.EMBEDDED_REPLAY_ANCHOR:
        anchor = datetime.fromisoformat(settings.EMBEDDED_REPLAY_ANCHOR)
        return int((anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)).timestamp())
    # First use fixes the anchor for every process on this machine.
    path = Path(settings.VAR_DIR) / "replay_anchor"
    if not path.exists():
        path.write_text(str(int(datetime.now(UTC).timestamp())))
    return int(path.read_text().strip())


def _build(key: str) -> TelemetrySource:
    if key == "data_storage":
        if not settings.DATA_STORAGE_API_URL:
            raise ValueError("TELEMETRY_SOURCE=data_storage needs DATA_STORAGE_API_URL")
        return DataStorageSource(
            settings.DATA_STORAGE_API_URL,
            data_endpoint=settings.DATA_STORAGE_DATA_ENDPOINT,
            example_endpoint=settings.DATA_STORAGE_EXAMPLE_ENDPOINT,
            cell_endpoint=settings.DATA_STORAGE_CELL_ENDPOINT,
            component_id=settings.DATA_STORAGE_COMPONENT_ID,
            token=settings.DATA_STORAGE_TOKEN,
            page_size=settings.DATA_STORAGE_PAGE_SIZE,
            data_timeout=settings.DATA_STORAGE_DATA_TIMEOUT_SECONDS,
            example_timeout=settings.DATA_STORAGE_EXAMPLE_TIMEOUT_SECONDS,
            cell_timeout=settings.DATA_STORAGE_CELL_TIMEOUT_SECONDS,
            concurrency=settings.DATA_STORAGE_CONCURRENCY,
        )
    if key == "clickhouse":
        if not settings.CLICKHOUSE_DSN:
            raise ValueError("TELEMETRY_SOURCE=clickhouse needs CLICKHOUSE_DSN")
        return ClickHouseSource(
            settings.CLICKHOUSE_DSN, schema=settings.CLICKHOUSE_SCHEMA, table=settings.CLICKHOUSE_TABLE
        )
    return EmbeddedSource(
        settings.EMBEDDED_DATA_DIRS,
        replay_anchor=_replay_anchor(),
        replay_lead_seconds=settings.EMBEDDED_REPLAY_LEAD_SECONDS,
        drift_path=Path(settings.VAR_DIR) / "drift.json",
    )


def _source(key: str) -> TelemetrySource:
    signature = (
        key, settings.DATA_STORAGE_API_URL, settings.DATA_STORAGE_DATA_ENDPOINT, settings.DATA_STORAGE_CONCURRENCY,
        settings.CLICKHOUSE_DSN,
        settings.CLICKHOUSE_SCHEMA, settings.CLICKHOUSE_TABLE, tuple(map(str, settings.EMBEDDED_DATA_DIRS)),
        settings.EMBEDDED_REPLAY, settings.EMBEDDED_REPLAY_ANCHOR, str(settings.VAR_DIR),
    )
    with _lock:
        if signature not in _built:
            _built[signature] = _build(key)
        return _built[signature]


def history_source() -> TelemetrySource:
    key = settings.TELEMETRY_SOURCE
    if key == "auto":
        if settings.DATA_STORAGE_API_URL:
            key = "data_storage"
        else:
            key = "clickhouse" if settings.CLICKHOUSE_DSN else "embedded"
    return _source(key)


def latest_source() -> TelemetrySource:
    return _source("clickhouse") if settings.CLICKHOUSE_DSN else history_source()


def feature_fields(columns: list[str], excluded: list[str]) -> list[str]:
    """Columns minus metadata: the excluded list, `*_samples` counts and flag columns."""
    skip = set(excluded)
    return sorted(c for c in dict.fromkeys(columns) if c not in skip and not c.endswith("_samples"))


def available_fields(source: TelemetrySource | None = None) -> list[str]:
    """Discovered KPI fields of the history source, cached for FIELD_DISCOVERY_CACHE_SECONDS."""
    source = source or history_source()
    cache_key = f"telemetry:fields:{source.key}:{id(source)}"
    fields = cache.get(cache_key)
    if fields is None:
        fields = feature_fields(source.columns(), settings.DATA_STORAGE_EXCLUDED_FIELDS)
        if settings.FIELD_DISCOVERY_CACHE_SECONDS:
            cache.set(cache_key, fields, settings.FIELD_DISCOVERY_CACHE_SECONDS)
    return fields


_cell_lists: dict[int, tuple[float, frozenset[int]]] = {}  # id(source) -> (read at, cells)


_listings: dict[int, tuple[float, list[int]]] = {}  # id(source) -> (read at, cells)


def listed_cells(source: TelemetrySource) -> list[int]:
    """The source's cells, kept in the process for FIELD_DISCOVERY_CACHE_SECONDS: listing them
    costs a scan on ClickHouse (DISTINCT over the table: ~0.5 s at 28 M rows) or a request."""
    now = time.monotonic()
    read_at, cells = _listings.get(id(source), (None, []))
    if read_at is None or now - read_at >= settings.FIELD_DISCOVERY_CACHE_SECONDS:
        cells = source.cells()
        _listings[id(source)] = (now, cells)
    return cells


def is_known_cell(cell_index: int, source: TelemetrySource) -> bool:
    """Whether the source lists the cell. The list (it may hold 50,000 cells) is kept in the
    process; a cell missing from it re-reads the list at most every FIELD_DISCOVERY_CACHE_SECONDS,
    so new cells are found and requests for unknown ones cannot make each request re-list."""
    read_at, cells = _cell_lists.get(id(source), (None, frozenset()))
    if cell_index in cells:
        return True
    now = time.monotonic()
    if read_at is None or now - read_at >= settings.FIELD_DISCOVERY_CACHE_SECONDS:
        cells = frozenset(int(c) for c in source.cells())
        _cell_lists[id(source)] = (now, cells)
    return cell_index in cells
