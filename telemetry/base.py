"""The one interface every telemetry source implements.

Times are Unix seconds (int) inside telemetry; `now()` is the source's clock, which for the
bundled dataset is the end of the data (or the replay clock), not necessarily the wall clock.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from telemetry.frame import WindowFrame

# How far back `latest_windows` looks by default, in windows (the sources page newest-first,
# so this only bounds the query, it is not read in full).
LATEST_SEARCH_WINDOWS = 100_000


class TelemetrySource(ABC):
    key: str  # settings value: embedded | data_storage | clickhouse
    name: str  # how errors and the health check name it

    @abstractmethod
    def columns(self) -> list[str]:
        """Every column the source knows, metadata included (field discovery filters them)."""

    @abstractmethod
    def cells(self) -> list[int]:
        """Cell indexes, ascending."""

    @abstractmethod
    def windows(
        self, *, cell_index: int, window_seconds: int, start: int, end: int, fields: Sequence[str]
    ) -> WindowFrame:
        """Windows of one cell with start >= `start` and end <= `end`, ascending."""

    def latest_windows(
        self, *, cell_index: int, window_seconds: int, count: int, fields: Sequence[str]
    ) -> WindowFrame:
        """The most recent `count` windows of a cell (fewer if the source has fewer)."""
        now = self.now()
        frame = self.windows(
            cell_index=cell_index, window_seconds=window_seconds,
            start=now - window_seconds * LATEST_SEARCH_WINDOWS, end=now, fields=fields,
        )
        return frame.tail(count)

    def now(self) -> int:
        return int(time.time())

    def check(self) -> None:
        """Raise `DependencyDown` when the source cannot answer (used by the health check)."""
        self.cells()
