"""The Data Storage test server over a test's own rows (see `tests/synthetic/data_storage.py`).

Not a mock of our client: a real HTTP server on a loopback port with the upstream's rules
(newest first, limit 1..1000 else 422, no totals). Tests script failures by queuing status
codes in `fail_next`, or at random (`fault_rate`, seeded). The cell endpoint also lists 999, a
cell without data.
"""

from __future__ import annotations

from tests.synthetic.data_storage import DataStorageServer, RowStore


class FakeDataStorage(DataStorageServer):
    def __init__(self, rows: list[dict], *, era: str, prefix: str = "/api/v1/processed", port: int = 0,
                 latency: float = 0.0, fault_rate: float = 0.0, seed: int = 0) -> None:
        super().__init__(RowStore(rows, extra_cells=(999,)), era=era, prefix=prefix, port=port, latency=latency,
                         fault_rate=fault_rate, seed=seed)
