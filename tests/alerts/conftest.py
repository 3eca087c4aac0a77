from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import services
from tests.alerts.receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def webhook(db, receiver):
    return services.webhook_create(name="ops", url=receiver.url)


@pytest.fixture
def clock(monkeypatch):
    """timezone.now() under the test's control."""
    current = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: current[0])

    class Clock:
        def advance(self, seconds: float) -> None:
            current[0] += timedelta(seconds=seconds)

        def now(self):
            return current[0]
    return Clock()
