"""call_service: what the pages and admin actions show for a service call that works or refuses."""

from __future__ import annotations

import pytest
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory

from access.feedback import call_service
from core.errors import Conflict


@pytest.fixture
def request_():
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def shown(request) -> list[tuple[int, str]]:
    return [(m.level, m.message) for m in messages.get_messages(request)]


def refuse():
    raise Conflict("model m is already training")


def test_success_shows_the_message_made_of_the_result(request_):
    assert call_service(request_, lambda: 7, success=lambda n: f"queued job {n}") is True
    assert call_service(request_, lambda: None, success="done") is True
    assert call_service(request_, lambda: None) is True  # nothing to say
    assert shown(request_) == [(messages.SUCCESS, "queued job 7"), (messages.SUCCESS, "done")]


def test_a_domain_error_shows_its_message_with_what_it_was_about(request_):
    assert call_service(request_, refuse, success="never shown") is False
    assert call_service(request_, refuse, about="sinr_mean", error_level=messages.WARNING) is False
    assert shown(request_) == [(messages.ERROR, "model m is already training"),
                               (messages.WARNING, "sinr_mean: model m is already training")]


def test_other_errors_are_not_swallowed(request_):
    with pytest.raises(ZeroDivisionError):
        call_service(request_, lambda: 1 / 0, success="never shown")
    assert shown(request_) == []
