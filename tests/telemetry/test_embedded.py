"""The embedded source against numbers computed independently from the raw G-NetTrack CSV
(csv + statistics modules, UTC via calendar.timegm: Irish time is UTC in January)."""

from __future__ import annotations

import calendar
import csv
import gzip
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path

import pytest

from telemetry.embedded import FIELDS, EmbeddedSource

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "tests" / "data" / "uccmisl-5g-excerpt" / "B_2020.01.16_12.10.03.csv"
BUNDLED = ROOT / "telemetry" / "data" / "uccmisl-5g"
RAW_KPIS = {"rsrp": "RSRP", "rsrq": "RSRQ", "sinr": "SNR", "cqi": "CQI", "dl_bitrate": "DL_bitrate",
            "ul_bitrate": "UL_bitrate", "latency": "PINGAVG", "velocity": "Speed"}


def expected_windows(rows, width):
    """{window start: {field: value}, plus sample_count} from (epoch, {kpi: text}) rows."""
    groups = defaultdict(list)
    for ts, values in rows:
        groups[ts // width * width].append(values)
    result = {}
    for start, members in groups.items():
        out = {"sample_count": len(members)}
        for kpi in RAW_KPIS:
            numbers = [float(m[kpi]) for m in members if m[kpi] not in ("", "-")]
            if numbers:
                out[f"{kpi}_mean"] = statistics.fmean(numbers)
                out[f"{kpi}_min"], out[f"{kpi}_max"] = min(numbers), max(numbers)
                out[f"{kpi}_std"] = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
            else:
                for stat in ("mean", "min", "max", "std"):
                    out[f"{kpi}_{stat}"] = math.nan
        result[start] = out
    return result


def assert_frame_matches(frame, expected):
    assert frame.start.tolist() == sorted(expected)
    for i, start in enumerate(frame.start.tolist()):
        assert frame.sample_count[i] == expected[start]["sample_count"]
        for j, field in enumerate(frame.fields):
            want, got = expected[start][field], frame.values[i, j]
            assert (math.isnan(want) and math.isnan(got)) or math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (
                start, field, got, want)


def raw_rows(cell: str):
    with open(RAW, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["RAWCELLID"] == cell:
                ts = calendar.timegm(time.strptime(row["Timestamp"], "%Y.%m.%d_%H.%M.%S"))
                yield ts, {kpi: row[column] for kpi, column in RAW_KPIS.items()}


@pytest.mark.parametrize("width", [10, 60, 300])
def test_aggregation_matches_the_raw_csv(imported_source, width):
    for cell in ("10805003", "10946828"):
        expected = expected_windows(list(raw_rows(cell)), width)
        frame = imported_source.windows(cell_index=int(cell), window_seconds=width, start=0,
                                        end=imported_source.now(), fields=FIELDS)
        assert len(frame) == len(expected) > 0
        assert_frame_matches(frame, expected)


def test_import_skips_nothing_valid_and_lists_every_cell(imported_source):
    assert imported_source.cells() == [10805003, 10946827, 10946828, 11115788]
    assert sum(len(r.ts) for r in imported_source.records.values()) == 384


def test_bundled_data_aggregates_like_its_own_records():
    source = EmbeddedSource([BUNDLED])
    cell = 11016972
    with gzip.open(BUNDLED / "measurements.csv.gz", "rt", newline="") as handle:
        rows = [(int(r["ts"]), r) for r in csv.DictReader(handle) if r["cell_index"] == str(cell)]
    expected = expected_windows(rows, 60)
    frame = source.windows(cell_index=cell, window_seconds=60, start=0, end=source.now(), fields=FIELDS)
    assert_frame_matches(frame, expected)
    assert len(source.cells()) == 24


def test_static_clock_is_the_end_of_the_data_and_gaps_are_marked():
    source = EmbeddedSource([BUNDLED])
    assert source.now() % 3600 == 0 and 0 < source.now() - source.data_end <= 3600
    frame = source.windows(cell_index=10805003, window_seconds=10, start=0, end=source.now(), fields=["sinr_mean"])
    assert frame.end[-1] <= source.now()
    # Measurement sessions are days apart: the frame has many contiguous runs, each gap marked.
    runs = frame.segments()
    assert len(runs) > 10
    for begin, stop in runs:
        assert (frame.start[begin + 1:stop] == frame.end[begin:stop - 1]).all()
    latest = source.latest_windows(cell_index=10805003, window_seconds=10, count=5, fields=["sinr_mean"])
    assert latest.start.tolist() == frame.start[-5:].tolist()


def test_replay_reveals_the_last_part_of_the_data_as_time_passes():
    now = [1_800_000_000.0]
    lead = 2 * 3600
    source = EmbeddedSource([BUNDLED], replay_anchor=int(now[0]), replay_lead_seconds=lead, clock=lambda: now[0])
    assert source.shift % 3600 == 0
    shifted_end = source.data_end + source.shift
    assert now[0] < shifted_end <= now[0] + lead + 3600  # the tail lies in the future at the anchor
    cell = 10805003
    kwargs = dict(cell_index=cell, window_seconds=60, start=0, end=2_000_000_000, fields=["rsrp_mean"])
    before = source.windows(**kwargs)
    assert before.end[-1] <= now[0]
    now[0] += lead + 3600
    after = source.windows(**kwargs)
    assert len(after) > len(before)
    assert after.start[: len(before)].tolist() == before.start.tolist()
