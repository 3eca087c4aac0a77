"""A Data Storage API test server that speaks the contract (era A or era B) and scales to 10,000+ cells.

A real HTTP server on a loopback port (the real service is a remote cluster that cannot run
here), serving from a store of numpy arrays: `NetworkStore` (a `SyntheticNetwork`, each cell
generated on first request and kept in a small LRU, so memory stays bounded whatever the
network size) or `RowStore` (a test's own list of row dicts). The upstream's rules: rows newest
first, `limit` 1..1000 (else 422), `offset` ≥ 0, no totals; era A answers fixed keys with null
for a missing value and integer timestamps, era B ISO timestamps without offset and no key for
a missing value (an `ip_src` asks for UE-level rows: there are none here).

- In a thread (tests): `server = DataStorageServer(store, era="B", latency=0.02)`, `server.url`,
  `server.stop()`. `fail_next` queues status codes to answer instead, `fault_rate` answers that
  share of requests 500 at random (seeded; counted in `faults`); `requests` records every
  request; `max_in_flight` is the most requests served at once.
- As a process (benchmarks: its JSON work then does not share the client's GIL):
  `with ServerProcess(cells=10_000, latency=0.02) as server: server.url`, or
  `python -m tests.synthetic.data_storage --cells 10000 --latency-ms 20`.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import numpy as np

from tests.synthetic.network import Rows, SyntheticNetwork

ROOT = Path(__file__).resolve().parents[2]
MAX_LIMIT = 1000
METADATA = ("window_start_time", "window_end_time", "window_duration_seconds", "cell_index", "network")


class Store(Protocol):
    def columns(self) -> list[str]:
        """Every key of a row (the example endpoint's answer)."""

    def cells(self) -> list[int]:
        """What the cell endpoint answers (unordered, may list cells without windows)."""

    def page(self, *, era: str, cell: int, width: int, start: int, end: int, offset: int, limit: int) -> bytes:
        """The JSON array of rows with start >= `start` and end <= `end`, newest first,
        `offset`/`limit` applied, rendered for `era`."""


def render(row: dict, era: str) -> dict:
    """A stored row (integer timestamps, None = missing) as the era sends it."""
    if era == "A":
        return row
    rendered = {k: v for k, v in row.items() if v is not None}  # era B: a missing key = no value
    for key in ("window_start_time", "window_end_time"):
        rendered[key] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(row[key]))
    return rendered


class NetworkStore:
    """Serves a `SyntheticNetwork`. A cell is generated on first use and kept in an LRU with the
    JSON of the rows served so far, so a page costs rendering its own rows once, then a slice and
    a join (the server's own cost is what `latency` models, not this process's CPU)."""

    def __init__(self, network: SyntheticNetwork, *, cached_cells: int = 1024) -> None:
        self.network = network
        self._cache: OrderedDict[tuple[int, str], tuple[Rows, list[str | None]]] = OrderedDict()
        self._cached_cells = cached_cells
        self._lock = threading.Lock()

    def columns(self) -> list[str]:
        return [*METADATA, *self.network.fields, "sample_count"]

    def cells(self) -> list[int]:
        return self.network.listed_cells()[::-1].tolist()  # unordered, as the upstream's are

    def _cell(self, cell: int, era: str) -> tuple[Rows, list[str | None]]:
        key = (cell, era)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        rows = self.network.cell(cell)
        entry: tuple[Rows, list[str | None]] = (rows, [None] * len(rows))
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > self._cached_cells:
                self._cache.popitem(last=False)
        return entry

    def page(self, *, era: str, cell: int, width: int, start: int, end: int, offset: int, limit: int) -> bytes:
        if width != self.network.window_seconds:
            return b"[]"
        rows, rendered = self._cell(cell, era)
        # Ascending and non-overlapping, so the kept rows are one contiguous range [low, high).
        low = int(np.searchsorted(rows.start, start, side="left"))
        high = int(np.searchsorted(rows.end, end, side="right"))
        newest = high - offset  # newest first: row high-1 is offset 0
        oldest = max(low, newest - limit)
        if newest <= oldest:
            return b"[]"
        if None in rendered[oldest:newest]:
            rendered[oldest:newest] = _render_rows(rows, oldest, newest, era, self.network.window_seconds)
        return ("[" + ",".join(reversed(rendered[oldest:newest])) + "]").encode()


def _render_rows(rows: Rows, begin: int, stop: int, era: str, width: int) -> list[str]:
    """The JSON objects of rows begin..stop-1, as the era sends them."""
    span = slice(begin, stop)
    if era == "A":
        starts, ends = rows.start[span].astype(str), rows.end[span].astype(str)
    else:
        starts, ends = ('"' + np.datetime_as_string(times.astype("datetime64[s]")).astype(object) + '"'
                        for times in (rows.start[span], rows.end[span]))
    keys = [f'"{f}":' for f in rows.fields]
    rendered = []
    for i, values in enumerate(rows.values[span].tolist()):
        if era == "A":
            metrics = ",".join(k + ("null" if v != v else repr(v)) for k, v in zip(keys, values, strict=True))
        else:
            metrics = ",".join(k + repr(v) for k, v in zip(keys, values, strict=True) if v == v)  # NaN: no key
        rendered.append(
            f'{{"window_start_time":{starts[i]},"window_end_time":{ends[i]},"window_duration_seconds":{width}.0,'
            f'"cell_index":{rows.cell_index[begin + i]},"network":"5G"{"," if metrics else ""}{metrics},'
            f'"sample_count":{rows.sample_count[begin + i]}}}'
        )
    return rendered


class RowStore:
    """Serves a test's own rows (dicts with integer timestamps; None = missing)."""

    def __init__(self, rows: list[dict], *, extra_cells: tuple[int, ...] = ()) -> None:
        self.rows = rows
        self._extra_cells = list(extra_cells)
        self._groups: dict[tuple[int, int], tuple[list[dict], np.ndarray, np.ndarray]] = {}
        for key in {(r["cell_index"], r["window_duration_seconds"]) for r in rows}:
            group = sorted((r for r in rows if (r["cell_index"], r["window_duration_seconds"]) == key),
                           key=lambda r: r["window_start_time"], reverse=True)
            self._groups[key] = (group, np.array([r["window_start_time"] for r in group]),
                                 np.array([r["window_end_time"] for r in group]))

    def columns(self) -> list[str]:
        return list(self.rows[0])

    def cells(self) -> list[int]:
        return sorted({r["cell_index"] for r in self.rows}, reverse=True) + self._extra_cells

    def page(self, *, era: str, cell: int, width: int, start: int, end: int, offset: int, limit: int) -> bytes:
        group, starts, ends = self._groups.get((cell, width), ([], np.array([]), np.array([])))
        kept = np.flatnonzero((starts >= start) & (ends <= end))[offset:offset + limit]
        return json.dumps([render(group[i], era) for i in kept]).encode()


class DataStorageServer:
    def __init__(self, store: Store, *, era: str = "B", prefix: str | None = None, latency: float = 0.0,
                 fault_rate: float = 0.0, seed: int = 0, host: str = "127.0.0.1", port: int = 0,
                 record: bool = True) -> None:
        if era not in ("A", "B"):
            raise ValueError("era is A or B")
        self.store = store
        self.era = era
        self.prefix = prefix or ("/api/v1/processed/latency" if era == "A" else "/api/v1/processed")
        self.latency = latency
        self.record = record
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail_next: list[int] = []
        self.fault_rate = fault_rate  # that share of requests answers 500, drawn from a seeded generator
        self.faults = 0
        self._random = random.Random(seed)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = _Server((host, port), self._handler())
        self.server = server
        self.url = f"http://{host}:{server.server_port}"
        self._thread = threading.Thread(target=server.serve_forever, name="data-storage-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.close_connections()
        self._thread.join(5)

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        """(status, body): a JSON-able body, or bytes already JSON."""
        if path == f"{self.prefix}/example":
            return 200, [{k: 0 for k in self.store.columns()}]
        if path == "/api/v1/cell":
            return 200, self.store.cells()
        if path != self.prefix:
            return 404, {"detail": "Not Found"}
        try:
            start, end = int(params["start_time"]), int(params["end_time"])
            cell, width = int(params["cell_index"]), int(params["window_duration_seconds"])
            offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        except (KeyError, ValueError):
            return 422, {"detail": [{"msg": "field required or not an integer"}]}
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            return 422, {"detail": [{"msg": f"limit must be 1..{MAX_LIMIT}, offset >= 0"}]}
        if self.era == "B" and params.get("ip_src"):
            return 200, []  # UE-level rows: this store has cell-level rows only
        return 200, self.store.page(era=self.era, cell=cell, width=width, start=start, end=end, offset=offset,
                                    limit=limit)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection per client thread
            disable_nagle_algorithm = True  # else a small answer waits for a delayed ACK (40 ms)

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                with owner._lock:
                    if owner.record:
                        owner.requests.append((url.path, params, dict(self.headers)))
                    failure = owner.fail_next.pop(0) if owner.fail_next else None
                    if failure is None and owner.fault_rate and owner._random.random() < owner.fault_rate:
                        failure = 500
                        owner.faults += 1
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    if owner.latency:
                        time.sleep(owner.latency)
                    if failure is not None:
                        status, body = failure, {"detail": "storage failure"}
                    else:
                        status, body = owner.answer(url.path, params)
                finally:  # before answering: the client may send its next request as soon as it has this one
                    with owner._lock:
                        owner.in_flight -= 1
                self._send(status, body)

        return Handler


class _Server(ThreadingHTTPServer):
    """Keeps connections alive (HTTP/1.1, as the upstream does) and closes them all on stop, so a
    stopped server answers nothing, even on a connection a client kept."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many clients at once (the default backlog is 5)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already gone


class ServerProcess:
    """The server over a synthetic network in its own process (for benchmarks)."""

    def __init__(self, *, cells: int, days: float = 2.0, window_seconds: int = 60, seed: int = 0,
                 end: int | None = None, era: str = "B", latency: float = 0.0, silent_cells: int = 0) -> None:
        args = [sys.executable, "-m", "tests.synthetic.data_storage", "--cells", str(cells), "--days", str(days),
                "--window", str(window_seconds), "--seed", str(seed), "--era", era,
                "--latency-ms", str(latency * 1000), "--silent-cells", str(silent_cells)]
        if end is not None:
            args += ["--end", str(end)]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()  # "listening <url>" once it serves
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the Data Storage test server did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--silent-cells", type=int, default=0)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end", type=int, default=None, help="last window end (default: the network's)")
    parser.add_argument("--era", choices=["A", "B"], default="B")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    options = dict(cells=args.cells, silent_cells=args.silent_cells, days=args.days,
                   window_seconds=args.window, seed=args.seed)
    if args.end is not None:
        options["end"] = args.end
    server = DataStorageServer(NetworkStore(SyntheticNetwork(**options)), era=args.era,
                               latency=args.latency_ms / 1000, port=args.port, record=False)
    print(f"listening {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
