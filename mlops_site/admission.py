"""Load shedding: each web process works on at most ADMISSION_MAX_CONCURRENT requests at once.

gunicorn's gthread workers accept every connection and queue it for their threads, so past
capacity that queue grows and every request waits in it (offered 200/s against ~150/s: p50
10 s, p99 20 s, no error). Here at most ADMISSION_MAX_WAITING more requests may wait for a slot,
each for at most ADMISSION_WAIT_SECONDS; any other request is answered 503 with Retry-After at
once, so the requests admitted keep a bounded latency. The processes run more threads than
they admit and queue (WEB_THREADS), so spare threads are free to answer those 503s. Health and
metrics are never shed: probes must see a busy server as alive.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.http import JsonResponse
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


class AdmissionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        slots = settings.ADMISSION_MAX_CONCURRENT
        self.admission = Admission(slots, settings.ADMISSION_MAX_WAITING) if slots else None

    def __call__(self, request):
        if self.admission is None or request.path in NEVER_SHED:
            return self.get_response(request)
        if not self.admission.enter(settings.ADMISSION_WAIT_SECONDS):
            return self._shed()
        try:
            return self.get_response(request)
        finally:
            self.admission.leave()

    def _shed(self) -> JsonResponse:
        SHED.inc()
        retry_after = settings.ADMISSION_RETRY_AFTER_SECONDS
        response = JsonResponse(
            {"detail": f"the server is overloaded (this process is working on {self.admission.slots} requests "
                       f"and has {self.admission.waiting} waiting); retry in {retry_after} s", "overloaded": True},
            status=503, headers={"Retry-After": str(retry_after)})
        response._has_been_logged = True  # counted above: an error line per shed request would add to the load
        return response
