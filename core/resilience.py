"""Calls to a dependency: one retry policy with two profiles, and a circuit breaker per dependency.

- **request** (the default: web requests and whatever runs on their behalf): few attempts
  inside a total deadline (`REQUEST_DEADLINE_SECONDS`, each attempt's timeout cut to what is
  left), so a slow or hung dependency costs a request seconds, not minutes. While the
  dependency's breaker is open it fails at once.
- **background** (`with background():`, training fetches): many attempts with a long jittered
  backoff and no deadline, so a 30 % fault rate or a short outage only slows a job down. It
  never fails fast on the breaker, but its outcomes feed it. Its waits end early when the
  worker is asked to stop (`core.shutdown`).

The breaker: `BREAKER_FAILURES` calls in a row that ran out of attempts open it for
`BREAKER_COOLDOWN_SECONDS`; then one request-path call is let through as a trial, and its
outcome closes or re-opens it. State is per process: each web and worker process learns on its
own, in a few calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_exponential_jitter
from tenacity.stop import stop_base

from core import shutdown
from core.errors import DependencyDown

T = TypeVar("T")
_MIN_ATTEMPT_SECONDS = 0.05


@dataclass(frozen=True)
class Profile:
    name: str
    attempts: int
    backoff_seconds: float  # the first wait; it doubles, jittered, up to backoff_max_seconds
    backoff_max_seconds: float
    deadline_seconds: float | None  # for the whole call, waits included; None: no deadline
    fail_fast: bool  # refuse at once while the breaker is open


_background: ContextVar[bool] = ContextVar("cellwise_background_calls", default=False)


@contextmanager
def background() -> Iterator[None]:
    """Calls made inside use the patient background profile. Context variables do not cross
    into thread pools by themselves: submit work with `contextvars.copy_context().run`."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def current_profile() -> Profile:
    if _background.get():
        return Profile("background", attempts=settings.BACKGROUND_RETRIES + 1,
                       backoff_seconds=settings.BACKGROUND_BACKOFF_SECONDS,
                       backoff_max_seconds=settings.BACKGROUND_BACKOFF_MAX_SECONDS, deadline_seconds=None,
                       fail_fast=False)
    return Profile("request", attempts=settings.REQUEST_RETRIES + 1, backoff_seconds=settings.REQUEST_BACKOFF_SECONDS,
                   backoff_max_seconds=settings.REQUEST_DEADLINE_SECONDS,
                   deadline_seconds=settings.REQUEST_DEADLINE_SECONDS, fail_fast=True)


class Breaker:
    """Consecutive failed calls of one dependency, and whether calls may go through."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.opened_at: float | None = None
        self.last_error = ""
        self._trial = False

    def admit(self, dependency: str) -> bool:
        """Raise DependencyDown while open; True when this call is the trial after the cooldown."""
        with self._lock:
            if self.opened_at is None:
                return False
            wait = self.opened_at + settings.BREAKER_COOLDOWN_SECONDS - time.monotonic()
            if wait > 0 or self._trial:
                raise DependencyDown(dependency, f"known to be down ({self.failures} calls in a row failed, "
                                                 f"the last: {self.last_error}); next try in {max(wait, 0):.0f} s",
                                     retry_after_seconds=max(1, round(wait)))
            self._trial = True
            return True

    def record(self, *, ok: bool, error: str = "", trial: bool = False) -> None:
        with self._lock:
            if trial:
                self._trial = False
            if ok:
                self.failures, self.opened_at = 0, None
                return
            self.failures += 1
            self.last_error = error[:300]
            if self.failures >= settings.BREAKER_FAILURES:
                self.opened_at = time.monotonic()

    def end_trial(self) -> None:
        with self._lock:
            self._trial = False


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker(key: str) -> Breaker:
    with _breakers_lock:
        return _breakers.setdefault(key, Breaker())


def reset() -> None:
    """Tests only: forget what every breaker learnt."""
    with _breakers_lock:
        _breakers.clear()


def _sleep(seconds: float) -> None:
    shutdown.sleep(seconds)
    shutdown.check()  # a worker asked to stop does not retry


def call(dependency: str, attempt: Callable[[float], T], *, timeout: float,
         retryable: Callable[[BaseException], bool], describe: Callable[[BaseException], str],
         key: str | None = None, attempts: int | None = None, backoff_seconds: float | None = None) -> T:
    """Run `attempt(timeout_seconds)` under the current profile.

    Errors for which `retryable` is true (the dependency is down or failing) are retried; when
    attempts or the deadline run out they become `DependencyDown(dependency, describe(error))`.
    Other errors pass through at once (the dependency answered, e.g. a 4xx). `key` names the
    breaker (default: the dependency); `attempts` / `backoff_seconds` override the profile's.
    """
    profile = current_profile()
    state = breaker(key or dependency)
    trial = state.admit(dependency) if profile.fail_fast else False
    began = time.monotonic()
    stop: stop_base = stop_after_attempt(attempts or profile.attempts)
    if profile.deadline_seconds is not None:
        stop = stop | stop_before_delay(profile.deadline_seconds)
    first_wait = profile.backoff_seconds if backoff_seconds is None else backoff_seconds
    retrying = Retrying(stop=stop, retry=retry_if_exception(retryable), sleep=_sleep, reraise=True,
                        wait=wait_exponential_jitter(multiplier=first_wait, max=profile.backoff_max_seconds,
                                                     jitter=first_wait))
    tries = 0
    try:
        for try_ in retrying:
            with try_:
                tries += 1
                if not profile.fail_fast:
                    shutdown.check()
                left = timeout
                if profile.deadline_seconds is not None:
                    left = min(timeout, max(_MIN_ATTEMPT_SECONDS, began + profile.deadline_seconds - time.monotonic()))
                result = attempt(left)
    except BaseException as error:
        if not retryable(error):  # an answer (or a stop), not a failure of the dependency
            if trial:
                state.end_trial()
            raise
        reason = describe(error)
        state.record(ok=False, error=reason, trial=trial)
        seconds = time.monotonic() - began
        raise DependencyDown(dependency, f"{reason} (after {tries} attempt{'s' if tries > 1 else ''} in "
                                         f"{seconds:.1f} s)") from error
    state.record(ok=True, trial=trial)
    return result
