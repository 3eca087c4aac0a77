import numpy as np

from telemetry.frame import WindowFrame


def frame(starts, counts=None, width=10, values=None):
    n = len(starts)
    return WindowFrame.build(
        cell_index=7, window_seconds=width, fields=("a", "b"), start=starts, end=np.asarray(starts) + width,
        values=np.arange(n * 2, dtype=float).reshape(n, 2) if values is None else values,
        sample_count=counts if counts is not None else [1] * n,
    )


def test_build_sorts_drops_empty_and_duplicate_windows_and_marks_gaps():
    f = frame([30, 0, 10, 20, 50, 10], counts=[3, 1, 2, 0, 1, 5])
    assert f.start.tolist() == [0, 10, 30, 50]  # 20 was empty; the second 10 a duplicate
    assert f.gap_before.tolist() == [True, False, True, True]
    assert f.segments() == [(0, 2), (2, 3), (3, 4)]
    assert f.latest_run().start.tolist() == [50]


def test_empty_flag_is_a_gap():
    f = WindowFrame.build(cell_index=1, window_seconds=10, fields=("a",), start=[0, 10, 20], end=[10, 20, 30],
                          values=np.ones((3, 1)), sample_count=[1, 1, 1], empty=[False, True, False])
    assert f.start.tolist() == [0, 20] and f.gap_before.tolist() == [True, True]


def test_between_follows_the_upstream_rule_and_remarks_gaps():
    f = frame([0, 10, 20, 30])
    sub = f.between(10, 30)  # start >= 10 and end <= 30
    assert sub.start.tolist() == [10, 20]
    assert sub.gap_before.tolist() == [True, False]
    assert f.tail(2).start.tolist() == [20, 30]


def test_select_reorders_and_fills_unknown_fields_with_nan():
    f = frame([0, 10])
    sub = f.select(["b", "zzz"])
    assert sub.fields == ("b", "zzz")
    assert sub.values[:, 0].tolist() == [1.0, 3.0]
    assert np.isnan(sub.values[:, 1]).all()
