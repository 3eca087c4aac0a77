"""Load a `SyntheticNetwork` into ClickHouse in both table shapes of the contract.

Era A "wide" (`<database>.processed_latency`: one Nullable column per field) is filled from
Parquet blocks of a chunk of cells each (columns straight from numpy, no Python rows); era B
"map" (`<database>.processed`: `metrics Map(String, Float64)`, a missing value is a missing key)
is built the same way, its map column-wise from the same arrays. Takes a clickhouse-connect client, so importing
this module never imports chdb (a process that imported chdb must not fork).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.synthetic.network import SyntheticNetwork

_COMMON = ("window_start_time DateTime64(3, 'UTC'), window_end_time DateTime64(3, 'UTC'), "
           "window_duration_seconds Float64, cell_index Int32, network String DEFAULT '5G'")


@dataclass(frozen=True)
class LoadedTables:
    wide: str
    map: str
    rows: int


def load(client: Any, network: SyntheticNetwork, *, database: str = "synthetic", chunk_cells: int = 500,
         with_map: bool = True) -> LoadedTables:
    """(Re)create both tables in `database` and fill them with every row of `network` (the map
    table stays empty without `with_map`)."""
    import pyarrow as pa

    wide, mapped = f"{database}.processed_latency", f"{database}.processed"
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    for table in (wide, mapped):
        client.command(f"DROP TABLE IF EXISTS {table}")
    fields = network.fields
    kpi_columns = ", ".join(f"`{f}` Nullable(Float64)" for f in fields)
    client.command(f"CREATE TABLE {wide} ({_COMMON}, {kpi_columns}, sample_count Int32) "
                   "ENGINE = MergeTree ORDER BY (cell_index, window_start_time)")
    client.command(f"CREATE TABLE {mapped} ({_COMMON}, ip_src Nullable(String), metrics Map(String, Float64), "
                   "sample_count Int32) ENGINE = MergeTree ORDER BY (cell_index, window_start_time)")
    metadata = ["window_start_time", "window_end_time", "window_duration_seconds", "cell_index"]
    total = 0
    for rows in network.chunks(chunk_cells):
        base = [
            pa.array(rows.start * 1000, pa.timestamp("ms", tz="UTC")),
            pa.array(rows.end * 1000, pa.timestamp("ms", tz="UTC")),
            pa.array(np.full(len(rows), float(network.window_seconds))),
            pa.array(rows.cell_index.astype(np.int32)),
        ]
        counts = pa.array(rows.sample_count.astype(np.int32))
        kpis = [pa.array(rows.values[:, j], from_pandas=True) for j in range(len(fields))]  # NaN → NULL
        _insert(client, wide, pa.table([*base, *kpis, counts], names=[*metadata, *fields, "sample_count"]))
        if with_map:
            _insert(client, mapped, pa.table([*base, _metrics(rows.values, fields), counts],
                                             names=[*metadata, "metrics", "sample_count"]))
        total += len(rows)
    _settle(client, database)
    return LoadedTables(wide=wide, map=mapped, rows=total)


def _settle(client: Any, database: str, *, most_seconds: float = 300) -> None:
    """Wait for the background merges of the inserted parts, so reads see a table in its steady
    state (as a live server's is), not one busy merging."""
    deadline, quiet = time.monotonic() + most_seconds, 0
    while quiet < 2 and time.monotonic() < deadline:
        busy = client.query("SELECT count() FROM system.merges WHERE database = {db:String}",
                            parameters={"db": database}).result_rows[0][0]
        quiet = 0 if busy else quiet + 1
        time.sleep(0.5)


def _metrics(values: np.ndarray, fields: tuple[str, ...]) -> Any:
    """The era B `metrics` map of each row, built column-wise: a missing value is a missing key."""
    import pyarrow as pa

    present = ~np.isnan(values)
    offsets = np.concatenate(([0], np.cumsum(present.sum(axis=1)))).astype(np.int32)
    key_ids = np.broadcast_to(np.arange(len(fields), dtype=np.int32), values.shape)[present]
    keys = pa.DictionaryArray.from_arrays(pa.array(key_ids), pa.array(list(fields))).cast(pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets), keys, pa.array(values[present]))


def _insert(client: Any, table: str, block: Any) -> None:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(block, buffer, compression="lz4")
    client.raw_insert(table, column_names=block.column_names, insert_block=buffer.getvalue(), fmt="Parquet")
