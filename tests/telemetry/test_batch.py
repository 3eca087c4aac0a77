"""WindowBatch against WindowFrame, the one-cell type whose semantics it must keep: random rows
of several cells (shuffled, duplicated, empty windows, NaNs, gaps) give, cell by cell, exactly
the frame `WindowFrame.build` gives for that cell's rows alone."""

from __future__ import annotations

import numpy as np
import pytest

from telemetry.batch import WindowBatch
from telemetry.frame import WindowFrame

FIELDS = ("a", "b")


def random_rows(rng, cells, width=10):
    parts = []
    for cell in cells:
        n = int(rng.integers(0, 40))
        starts = rng.choice(np.arange(0, 80) * width, size=n, replace=True)  # duplicates and holes
        values = rng.normal(size=(n, 2))
        values[rng.random((n, 2)) < 0.1] = np.nan
        counts = np.where(rng.random(n) < 0.1, 0, rng.integers(1, 60, n))
        parts.append((np.full(n, cell), starts, values, counts))
    cell_index, start, values, counts = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = rng.permutation(len(start))
    return cell_index[order], start[order], values[order], counts[order]


def frame_of(cell, cell_index, start, values, counts, width=10):
    mine = cell_index == cell
    return WindowFrame.build(cell_index=cell, window_seconds=width, fields=FIELDS, start=start[mine],
                             end=start[mine] + width, values=values[mine], sample_count=counts[mine])


def assert_same(got: WindowFrame, want: WindowFrame):
    assert got.cell_index == want.cell_index and got.fields == want.fields
    assert got.start.tolist() == want.start.tolist()
    assert got.end.tolist() == want.end.tolist()
    assert got.sample_count.tolist() == want.sample_count.tolist()
    assert got.gap_before.tolist() == want.gap_before.tolist()
    np.testing.assert_array_equal(got.values, want.values)  # NaN where NaN


@pytest.mark.parametrize("seed", range(5))
def test_build_gives_each_cell_the_frame_it_would_have_alone(seed):
    rng = np.random.default_rng(seed)
    cell_index, start, values, counts = random_rows(rng, [30, 10, 20, 99])
    batch = WindowBatch.build(cells=[20, 10, 30, 40, 10], window_seconds=10, fields=FIELDS, cell_index=cell_index,
                              start=start, end=start + 10, values=values, sample_count=counts)
    assert batch.cells.tolist() == [10, 20, 30, 40]  # ascending, duplicates ignored, 99 not asked for
    for cell in (10, 20, 30):
        assert_same(batch.frame(cell), frame_of(cell, cell_index, start, values, counts))
    assert len(batch.frame(40)) == 0  # asked for, no data: present and empty
    assert batch.counts.tolist() == [len(batch.frame(c)) for c in (10, 20, 30, 40)]
    assert [f.cell_index for f in batch.frames()] == [10, 20, 30, 40]
    assert (batch.row_cells() != 99).all() and batch.window_count == batch.counts.sum()
    with pytest.raises(KeyError):
        batch.frame(99)


@pytest.mark.parametrize("seed", range(5))
def test_between_tail_and_select_act_on_every_cell_like_the_frame_operations(seed):
    rng = np.random.default_rng(100 + seed)
    cells = [1, 2, 3, 4, 5]
    cell_index, start, values, counts = random_rows(rng, cells)
    batch = WindowBatch.build(cells=cells, window_seconds=10, fields=FIELDS, cell_index=cell_index, start=start,
                              end=start + 10, values=values, sample_count=counts)
    low, high = sorted(rng.integers(0, 800, 2).tolist())
    count = int(rng.integers(1, 10))
    for cell in cells:
        alone = frame_of(cell, cell_index, start, values, counts)
        assert_same(batch.between(low, high).frame(cell), alone.between(low, high))
        assert_same(batch.tail(count).frame(cell), alone.tail(count))
        assert_same(batch.select(["b", "zzz"]).frame(cell), alone.select(["b", "zzz"]))
    assert batch.take_cells([2, 4, 77]).cells.tolist() == [2, 4, 77]
    assert_same(batch.take_cells([2, 4, 77]).frame(4), batch.frame(4))
    assert len(batch.take_cells([2, 4, 77]).frame(77)) == 0
    halves = WindowBatch.concat([batch.take_cells([1, 2]), batch.take_cells([3, 4, 5])])
    for cell in cells:
        assert_same(halves.frame(cell), batch.frame(cell))


def test_a_frame_is_a_view_and_float32_halves_the_values():
    start = np.arange(1000) * 60
    batch = WindowBatch.build(cells=[7], window_seconds=60, fields=FIELDS, cell_index=np.full(1000, 7), start=start,
                              end=start + 60, values=np.ones((1000, 2)), sample_count=np.ones(1000))
    frame = batch.frame(7)
    assert np.shares_memory(frame.values, batch.values) and np.shares_memory(frame.start, batch.start)
    small = batch.select(FIELDS, np.float32)
    assert small.values.dtype == np.float32 and small.values.nbytes == batch.values.nbytes // 2
    with pytest.raises(ValueError):
        batch.select(FIELDS, np.int64)


def test_from_frames_and_empty():
    frames = [WindowFrame.build(cell_index=c, window_seconds=10, fields=FIELDS, start=[0, 10, 30],
                                end=[10, 20, 40], values=np.full((3, 2), float(c)), sample_count=[1, 1, 1])
              for c in (5, 3)]
    batch = WindowBatch.from_frames(frames, window_seconds=10, fields=FIELDS)
    assert batch.cells.tolist() == [3, 5]
    assert_same(batch.frame(5), frames[0])
    assert batch.frame(3).gap_before.tolist() == [True, False, True]
    nothing = WindowBatch.empty(cells=[9, 8], window_seconds=10, fields=FIELDS)
    assert nothing.cells.tolist() == [8, 9] and nothing.counts.tolist() == [0, 0]
    assert nothing.frame(9).values.shape == (0, 2)
