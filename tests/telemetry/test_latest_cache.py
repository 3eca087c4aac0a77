"""The latest-windows cache's own rules: expiry on the window grid (with the upstream's lag), a
lossless compact value, and cached reads equal to the source's."""

from __future__ import annotations

import numpy as np
import pytest

from telemetry import latest_cache
from telemetry.embedded import EmbeddedSource
from tests.telemetry.test_embedded import BUNDLED

G = 1_000_000_020  # a multiple of 60: windows sit on the epoch's grid, not on the first read's


@pytest.mark.parametrize(("now", "expected"), [
    (G, G + 5),  # the window ending at G just closed: read again once the upstream's lag has passed
    (G + 5, G + 60 + 5),  # it is written: valid until the next window closes, plus the lag
    (G + 59.9, G + 60 + 5),
    (G + 60 + 2, G + 60 + 5),  # just closed, within the lag: that window may not be written yet
    (G + 60 + 5, G + 120 + 5),  # the lag has passed: until the next one
])
def test_expiry_is_the_next_window_close_plus_the_lag(settings, now, expected):
    settings.LATEST_WINDOWS_CACHE_LAG_SECONDS = 5
    assert latest_cache.expires_at(60, now) == expected


def test_values_round_trip_exactly(settings):
    source = EmbeddedSource([BUNDLED])
    cell = source.cells()[0]
    frame = source.latest_windows(cell_index=cell, window_seconds=10, count=40, fields=["sinr_mean", "cqi_std", "x"])
    assert np.isnan(frame.values).any()  # the unknown field "x" is NaN: NaN must survive
    data = latest_cache.pack(frame, 123.5)
    assert len(data) < 16 + len(frame) * (24 + 3 * 8) + 1  # raw arrays, no per-value overhead
    expires, back = latest_cache.unpack(data, cell_index=cell, window_seconds=10, fields=frame.fields,
                                        dtype=np.dtype(np.float64))
    assert expires == 123.5
    for name in ("start", "end", "sample_count", "gap_before"):
        assert getattr(back, name).tolist() == getattr(frame, name).tolist()
    np.testing.assert_array_equal(back.values, frame.values)
    empty = source.latest_windows(cell_index=1, window_seconds=10, count=5, fields=["sinr_mean"])
    assert len(latest_cache.unpack(latest_cache.pack(empty, 1.0), cell_index=1, window_seconds=10,
                                   fields=("sinr_mean",), dtype=np.dtype(np.float64))[1]) == 0


def test_cached_reads_equal_the_source_and_mix_hits_with_misses(settings, monkeypatch):
    source = EmbeddedSource([BUNDLED])
    cells = source.cells()
    asked = dict(window_seconds=10, count=12, fields=["sinr_mean", "rsrp_mean"])
    reads = []
    original = source.latest_windows_chunks

    def counted(**kwargs):
        reads.append(kwargs["cells"].tolist())
        return original(**kwargs)

    monkeypatch.setattr(source, "latest_windows_chunks", counted)  # the real read, recorded
    # A moment well inside a window: with the wall clock, a 10 s window closing between the reads
    # (a loaded machine) expired the first read's entries and the test failed now and then.
    settings.LATEST_WINDOWS_CACHE_LAG_SECONDS = 2
    monkeypatch.setattr(latest_cache, "clock", lambda: G + 3.0)
    latest_cache.latest_windows_many(source, cells=cells[:5], **asked)
    both = latest_cache.latest_windows_many(source, cells=cells[:10], **asked)
    assert reads == [cells[:5], cells[5:10]]  # the second read asked only for the cells not cached
    want = original(cells=cells[:10], **asked)
    for frame, expected in zip(both.frames(), next(want).frames(), strict=True):
        assert frame.start.tolist() == expected.start.tolist()
        assert frame.gap_before.tolist() == expected.gap_before.tolist()
        np.testing.assert_array_equal(frame.values, expected.values)
    one = latest_cache.latest_windows(source, cell_index=cells[3], **asked)
    assert len(reads) == 2 and one.start.tolist() == both.frame(cells[3]).start.tolist()
