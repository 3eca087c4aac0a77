"""Broken network endpoints for fault tests: a port where nothing listens, and a server that
accepts connections but never answers (a hung dependency)."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """Listens, so connections succeed (the kernel accepts them into the backlog), but never
    reads or answers: every request waits for its read timeout, like a hung S3 or API."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
