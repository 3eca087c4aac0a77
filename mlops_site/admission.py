"""Load shedding: each web process works on at most ADMISSION_MAX_CONCURRENT requests at once.

gunicorn's gthread workers accept every connection and queue it for their threads, so past
capacity that queue grows and every request waits in it (offered 200/s against ~150/s: p50
10 s, p99 20 s, no error). Here at most ADMISSION_MAX_WAITING more requests may wait for a slot,
each for at most ADMISSION_WAIT_SECONDS; any other request is answered 503 with Retry-After at
once, so the requests admitted keep a bounded latency. The processes run more threads than
they admit and queue (WEB_THREADS), so spare threads are free to answer those 503s.

It wraps the WSGI application (mlops_site/wsgi.py) rather than sitting in Django's middleware:
a refusal then costs no request object, middleware or signal, which is what keeps refusing
cheap when refusals are most of the traffic. Health and metrics are never shed: probes must
see a busy server as alive.
"""

from __future__ import annotations

import json
import threading

from django.conf import settings
from prometheus_client import Counter

NEVER_SHED = ("/v1/health", "/metrics")
SHED = Counter("cellwise_requests_shed_total", "Requests answered 503 because their process was saturated")


class Admission:
    """Slots for requests being processed, and a bounded number of places to wait for one."""

    def __init__(self, slots: int, waiting: int) -> None:
        self.slots, self.waiting = slots, waiting
        self._free = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self._present = 0  # processing or waiting

    def enter(self, wait_seconds: float) -> bool:
        with self._lock:
            if self._present >= self.slots + self.waiting:
                return False
            self._present += 1
        if self._free.acquire(timeout=wait_seconds):
            return True
        with self._lock:
            self._present -= 1
        return False

    def leave(self) -> None:
        self._free.release()
        with self._lock:
            self._present -= 1


class AdmissionControl:
    """WSGI middleware: admit, or answer 503 JSON with Retry-After."""

    def __init__(self, application) -> None:
        self.application = application
        slots = settings.ADMISSION_MAX_CONCURRENT
        self.admission = Admission(slots, settings.ADMISSION_MAX_WAITING) if slots else None
        self.wait_seconds = settings.ADMISSION_WAIT_SECONDS
        retry_after = settings.ADMISSION_RETRY_AFTER_SECONDS
        self.refusal = json.dumps({
            "detail": f"the server is overloaded (this process is working on {slots} requests with "
                      f"{settings.ADMISSION_MAX_WAITING} waiting); retry in {retry_after} s",
            "overloaded": True,
        }).encode()
        self.refusal_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(self.refusal))),
                                ("Retry-After", str(retry_after))]

    def __call__(self, environ, start_response):
        if self.admission is None or environ.get("PATH_INFO") in NEVER_SHED:
            return self.application(environ, start_response)
        if not self.admission.enter(self.wait_seconds):
            SHED.inc()
            start_response("503 Service Unavailable", list(self.refusal_headers))
            return [self.refusal]
        try:
            # Django has built the whole response by now (a streamed file keeps no slot).
            return self.application(environ, start_response)
        finally:
            self.admission.leave()
