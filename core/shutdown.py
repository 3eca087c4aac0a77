"""This process has been asked to stop: a flag that long-running work checks between steps.

A django-q2 worker process sets it on SIGTERM (`mlops_site.cluster`). Training checks it after
every epoch and before every request to a dependency, and backoff waits end early when it is
set, so a running job ends within seconds in a clear state (failed with `STOPPED`) instead of
being killed half-way through a write. Web processes never set it.
"""

from __future__ import annotations

import signal
import threading

from core.errors import DomainError

# What a job interrupted by a worker stop says, however it ended (in the job or killed).
STOPPED = "the worker was stopped while it ran; train again"

_requested = threading.Event()


class WorkerStopped(DomainError):
    """Raised inside a task when its worker process has been asked to stop."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__(STOPPED)


def request(*_signal_args) -> None:
    """Ask this process to stop (usable as a signal handler)."""
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise `WorkerStopped` once a stop has been requested."""
    if _requested.is_set():
        raise WorkerStopped()


def sleep(seconds: float) -> None:
    """time.sleep that ends early when a stop is requested."""
    _requested.wait(max(0.0, seconds))


def install_handler() -> None:
    """SIGTERM sets the flag instead of killing the process."""
    signal.signal(signal.SIGTERM, request)


def reset() -> None:
    """Tests only: forget a stop request."""
    _requested.clear()
