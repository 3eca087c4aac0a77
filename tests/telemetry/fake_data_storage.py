"""A small real HTTP server that speaks the Data Storage API contract (era A or era B).

Not a mock of our client: it runs on a loopback port in a thread and answers real HTTP, with
the upstream's rules (newest first, limit 1..1000 else 422, no totals). Tests script failures
by queuing status codes, or inject them at random (`fault_rate`: that share of requests
answers 500, from a seeded generator). Used for the DataStorageSource tests (the real service is a remote
cluster that cannot run here).
"""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeDataStorage:
    def __init__(self, rows: list[dict], *, era: str, prefix: str = "/api/v1/processed", port: int = 0,
                 fault_rate: float = 0.0, seed: int = 0) -> None:
        self.rows = rows  # stored with int timestamps; era B answers them as ISO strings
        self.era = era
        self.prefix = prefix
        self.cells = sorted({r["cell_index"] for r in rows}, reverse=True) + [999]  # unordered, one without data
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail_next: list[int] = []
        self.fault_rate = fault_rate
        self.faults = 0  # 500s answered because of fault_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        server.daemon_threads = True
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault(self) -> bool:
        with self._lock:
            fault = self._random.random() < self.fault_rate
            self.faults += fault
            return fault

    def _render(self, row: dict) -> dict:
        if self.era == "A":
            return row
        rendered = {k: v for k, v in row.items() if v is not None}  # era B: missing key = no value
        for key in ("window_start_time", "window_end_time"):
            rendered[key] = datetime.fromtimestamp(row[key], UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return rendered

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append((url.path, params, dict(self.headers)))
                if fake.fail_next:
                    return self._send(fake.fail_next.pop(0), {"detail": "storage failure"})
                if fake.fault_rate and fake._fault():
                    return self._send(500, {"detail": "injected storage failure"})
                if url.path == f"{fake.prefix}/example":
                    return self._send(200, [{k: 0 for k in fake.rows[0]}])
                if url.path == "/api/v1/cell":
                    return self._send(200, fake.cells)
                if url.path != fake.prefix:
                    return self._send(404, {"detail": "Not Found"})
                try:
                    start, end = int(params["start_time"]), int(params["end_time"])
                    cell, width = int(params["cell_index"]), int(params["window_duration_seconds"])
                    offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
                except (KeyError, ValueError):
                    return self._send(422, {"detail": [{"msg": "field required"}]})
                if not 1 <= limit <= 1000 or offset < 0:
                    return self._send(422, {"detail": [{"msg": "limit must be 1..1000"}]})
                rows = [r for r in fake.rows if r["cell_index"] == cell and r["window_duration_seconds"] == width
                        and r["window_start_time"] >= start and r["window_end_time"] <= end]
                rows.sort(key=lambda r: r["window_start_time"], reverse=True)
                return self._send(200, [fake._render(r) for r in rows[offset:offset + limit]])

        return Handler
