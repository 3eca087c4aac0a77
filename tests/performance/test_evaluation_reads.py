"""An evaluation reads its cells in one many-cell read per window duration (issue 13), with the
same windows as one read per cell; on the bundled real data."""

from __future__ import annotations

import numpy as np

from performance.scoring import EvaluationData
from telemetry.sources import history_source


class Counting:
    """The real history source, counting its many-cell reads."""

    def __init__(self, source):
        self.source, self.reads = source, []

    def __getattr__(self, name):
        return getattr(self.source, name)

    def windows_many(self, **kwargs):
        self.reads.append((len(kwargs["cells"]), kwargs["window_seconds"]))
        return self.source.windows_many(**kwargs)


def test_one_read_per_window_duration_gives_each_cells_windows(settings):
    settings.EVALUATION_MAX_CELLS = 6
    source = history_source()
    counting = Counting(source)
    data = EvaluationData(["sinr_mean", "rsrp_mean"], source=counting)
    frames = {(cell, width): data.frame(cell, width) for width in (60, 10) for cell in data.cells}
    assert counting.reads == [(6, 60), (6, 10)]
    for (cell, width), frame in frames.items():
        alone = source.windows(cell_index=cell, window_seconds=width, start=data.start - 86_400, end=data.now,
                               fields=["sinr_mean", "rsrp_mean"])
        assert frame.start.tolist() == alone.start.tolist()
        np.testing.assert_array_equal(frame.values, alone.values)
    assert sum(len(f) for f in frames.values()) > 1000  # the comparison was not over nothing
