"""The synthetic network: reproducible, realistic, and with the gaps real feeds have."""

from __future__ import annotations

import numpy as np

from tests.synthetic.network import DAY, KPIS, RANGES, SyntheticNetwork

NET = SyntheticNetwork(cells=30, silent_cells=3, days=2, stats=("mean", "min", "max", "std"), seed=11)


def column(rows, field):
    return rows.values[:, NET.fields.index(field)]


def test_seeded_reproducible_and_the_same_alone_or_in_a_chunk():
    again = SyntheticNetwork(cells=30, silent_cells=3, days=2, stats=("mean", "min", "max", "std"), seed=11)
    one = int(NET.cell_ids()[7])
    alone, chunk = NET.cell(one), NET.rows(NET.cell_ids()[5:10])
    mine = chunk.cell_index == one
    np.testing.assert_array_equal(alone.values, chunk.values[mine])
    assert alone.start.tolist() == chunk.start[mine].tolist()
    np.testing.assert_array_equal(again.cell(one).values, alone.values)
    other = SyntheticNetwork(cells=30, days=2, stats=("mean", "min", "max", "std"), seed=12).cell(one)
    assert len(other) != len(alone) or not np.array_equal(other.values, alone.values, equal_nan=True)
    means_only = SyntheticNetwork(cells=30, days=2, seed=11).cell(one)  # the stats asked for leave the means alone
    np.testing.assert_array_equal(means_only.values[:, 0], column(alone, "rsrp_mean"))


def test_ranges_of_a_real_cell_and_statistics_that_fit_together():
    rows = NET.rows(NET.cell_ids())
    for kpi in KPIS:
        low, high = RANGES[kpi]
        mean, small, large = (column(rows, f"{kpi}_{s}") for s in ("mean", "min", "max"))
        finite = np.isfinite(mean)
        assert low <= np.nanmin(small) and np.nanmax(large) <= high, kpi
        assert (small[finite] <= mean[finite]).all() and (mean[finite] <= large[finite]).all(), kpi
        assert (column(rows, f"{kpi}_std")[finite] >= 0).all()
    levels = [np.nanmean(column(NET.cell(int(c)), "rsrp_mean")) for c in NET.cell_ids()]
    assert np.ptp(levels) > 10  # cells sit at different distances: their RSRP levels differ


def test_daily_seasonality_and_autocorrelated_noise():
    rows = NET.rows(NET.cell_ids())
    hour = (rows.start % DAY) // 3600
    sinr = column(rows, "sinr_mean")
    evening, night = np.nanmean(sinr[(hour >= 19) & (hour <= 21)]), np.nanmean(sinr[(hour >= 3) & (hour <= 5)])
    assert evening < night - 2  # busy hour: load lowers SINR
    throughput = column(rows, "dl_bitrate_mean")
    assert np.nanmean(throughput[(hour >= 19) & (hour <= 21)]) < np.nanmean(throughput[(hour >= 3) & (hour <= 5)])
    cell = NET.cell(int(NET.cell_ids()[0]))
    rsrp = column(cell, "rsrp_mean")  # no daily term: what moves is the noise
    contiguous = (cell.start[1:] == cell.end[:-1]) & np.isfinite(rsrp[1:]) & np.isfinite(rsrp[:-1])
    assert np.corrcoef(rsrp[1:][contiguous], rsrp[:-1][contiguous])[0, 1] > 0.6


def test_gaps_outages_empty_windows_and_missing_values():
    rows = NET.rows(NET.cell_ids())
    assert len(rows) < NET.cells * NET.steps  # windows are missing
    runs = []
    for c in NET.cell_ids():
        start = NET.cell(int(c)).start
        runs.extend(((start[1:] - start[:-1]) // NET.window_seconds - 1).tolist())
    assert max(runs) >= 5 and sum(r >= 5 for r in runs) >= 5  # outages: runs of missing windows
    empty = rows.sample_count == 0
    assert empty.any() and np.isnan(rows.values[empty]).all()  # empty windows hold no values
    assert np.isnan(rows.values[~empty]).any()  # and some values are missing in non-empty ones
    assert (rows.sample_count[~empty] > 0).all()
    assert len(NET.listed_cells()) == 33
    assert len(NET.cell(int(NET.listed_cells()[-1]))) == 0 and len(NET.cell(3)) == 0  # silent, unknown
    assert rows.end.max() <= NET.end and rows.start.min() >= NET.start
