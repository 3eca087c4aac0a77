"""A real webhook receiver on loopback: a threaded HTTP server in the test process that records
every request and answers as its plan says (a status code, a (status, headers) pair, or "hang":
keep the connection open without answering until released), then `default`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, plan: list | None = None, default: int | str = 200) -> None:
        self.plan, self.default = list(plan or []), default
        self.requests: list[Received] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body,
                                                      time.time()))
                    answer = receiver.plan.pop(0) if receiver.plan else receiver.default
                if answer == "hang":
                    receiver.release.wait(300)
                    return
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(int(status))
                self.send_header("Content-Type", "text/plain")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok" if int(status) < 300 else b"receiver says no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.requests]

    def unique(self) -> dict[str, Received]:
        """What a receiver keeps after dropping duplicates by `webhook-id`."""
        kept: dict[str, Received] = {}
        for request in self.requests:
            kept.setdefault(request.key, request)
        return kept

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a receiver that is down."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
