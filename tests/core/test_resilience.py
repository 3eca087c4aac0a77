"""The retry policy's two profiles and the breaker, through the real Data Storage client against
real sockets: a server that answers 500s, a port where nothing listens, a server that never answers."""

from __future__ import annotations

import threading
import time

import pytest

from core import resilience, shutdown
from core.errors import DependencyDown
from telemetry.data_storage import DataStorageSource
from tests.integration.faults import SilentServer, closed_port
from tests.telemetry.fake_data_storage import FakeDataStorage
from tests.telemetry.test_data_storage import make_rows


@pytest.fixture
def policy(settings):
    settings.REQUEST_RETRIES = 2
    settings.REQUEST_BACKOFF_SECONDS = 0.01
    settings.REQUEST_DEADLINE_SECONDS = 1.0
    settings.BREAKER_FAILURES = 3
    settings.BREAKER_COOLDOWN_SECONDS = 60
    settings.BACKGROUND_RETRIES = 10
    settings.BACKGROUND_BACKOFF_SECONDS = 0.01
    settings.BACKGROUND_BACKOFF_MAX_SECONDS = 0.05
    return settings


@pytest.fixture
def server():
    fake = FakeDataStorage(make_rows(10), era="A")
    yield fake
    fake.stop()


def test_the_request_path_gives_up_at_its_deadline_on_a_server_that_never_answers(policy):
    with SilentServer() as hung:
        source = DataStorageSource(hung.url, data_timeout=60)
        began = time.monotonic()
        with pytest.raises(DependencyDown) as error:
            source.windows(cell_index=1, window_seconds=60, start=0, end=10, fields=["rsrp_mean"])
        took = time.monotonic() - began
    assert took < 1.0 + 1.5, f"bounded by REQUEST_DEADLINE_SECONDS, not the 60 s read timeout ({took:.1f} s)"
    assert "no answer from" in str(error.value) and error.value.dependency == "Data Storage API"


def test_the_breaker_opens_after_failed_calls_and_then_fails_without_a_request(policy, server):
    server.fail_next = [500] * 100
    source = DataStorageSource(server.url)
    for _ in range(3):
        with pytest.raises(DependencyDown, match="HTTP 500"):
            source.cells()
    sent = len(server.requests)
    assert sent == 9  # 3 calls × 3 attempts

    began = time.monotonic()
    with pytest.raises(DependencyDown) as error:
        source.cells()
    assert time.monotonic() - began < 0.1 and len(server.requests) == sent  # nothing was sent
    assert "known to be down" in str(error.value) and "3 calls in a row failed" in str(error.value)
    assert error.value.details["retry_after_seconds"] >= 1


def test_after_the_cooldown_one_trial_call_closes_the_breaker(policy, server):
    policy.BREAKER_COOLDOWN_SECONDS = 0.3
    port = closed_port()
    down = DataStorageSource(f"http://127.0.0.1:{port}")
    for _ in range(3):
        with pytest.raises(DependencyDown, match="cannot connect"):
            down.cells()
    with pytest.raises(DependencyDown, match="known to be down"):
        down.cells()
    # The API comes back on the same address.
    back = FakeDataStorage(make_rows(10), era="A", port=port)
    try:
        time.sleep(0.35)
        assert down.cells() == [999, 12898855]  # the trial
        assert down.cells() == [999, 12898855]  # closed again
    finally:
        back.stop()


def test_background_calls_are_patient_where_the_request_path_gives_up(policy, server):
    source = DataStorageSource(server.url)
    server.fail_next = [500] * 6
    with pytest.raises(DependencyDown, match="after 3 attempts"):
        source.cells()
    server.fail_next = [500] * 6
    with resilience.background():
        assert source.cells() == [999, 12898855]
    assert len(server.requests) == 3 + 7


def test_background_calls_ignore_an_open_breaker_and_their_success_closes_it(policy, server):
    server.fail_next = [500] * 9
    source = DataStorageSource(server.url)
    for _ in range(3):
        with pytest.raises(DependencyDown):
            source.cells()
    with pytest.raises(DependencyDown, match="known to be down"):
        source.cells()
    with resilience.background():
        assert source.cells() == [999, 12898855]
    assert source.cells() == [999, 12898855]  # the request path trusts the API again


def test_a_4xx_is_an_answer_not_a_failure(policy, server):
    from core.errors import UpstreamRejected

    server.fail_next = [422] * 5
    source = DataStorageSource(server.url)
    for _ in range(5):
        with pytest.raises(UpstreamRejected):
            source.cells()
    assert len(server.requests) == 5 and source.cells() == [999, 12898855]  # never opened


def test_a_stop_request_ends_a_background_backoff_at_once(policy, server):
    policy.BACKGROUND_BACKOFF_SECONDS = 30
    policy.BACKGROUND_BACKOFF_MAX_SECONDS = 30
    server.fail_next = [500] * 100
    source = DataStorageSource(server.url)
    threading.Timer(0.3, shutdown.request).start()
    began = time.monotonic()
    with resilience.background(), pytest.raises(shutdown.WorkerStopped):
        source.cells()
    assert time.monotonic() - began < 5 and len(server.requests) == 1
