"""Sign-in attempt limits (token endpoint and login page), in-process. The forged-header bypass
and the shared count across processes are shown against real gunicorn processes in
tests/integration/test_throttle_processes.py."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.TOKEN_RATE_LIMIT = (5, 60)
    settings.LOGIN_RATE_LIMIT = (5, 60)
    settings.TRUSTED_PROXIES = []
    cache.clear()


def token_attempt(client, username: str, peer: str, password: str = "wrong"):
    return client.post("/v1/auth/token", json.dumps({"username": username, "password": password}),
                       content_type="application/json", REMOTE_ADDR=peer)


def test_the_user_name_limit_holds_across_addresses(client, user):
    codes = [token_attempt(client, "alice", f"198.51.100.{i}").status_code for i in range(8)]
    assert codes == [401] * 5 + [429] * 3
    refused = token_attempt(client, "alice", "198.51.100.200", password="secret-pw")  # even the right password
    assert refused.status_code == 429 and "for this user name" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60 and refused.json()["retry_after"] == int(refused["Retry-After"])
    assert token_attempt(client, "bob", "198.51.100.201").status_code == 401  # other accounts are not locked


def test_the_address_limit_holds_across_user_names(client, user):
    codes = [token_attempt(client, f"user{i}", "198.51.100.1").status_code for i in range(7)]
    assert codes == [401] * 5 + [429] * 2
    assert "from this address" in token_attempt(client, "alice", "198.51.100.1").json()["detail"]
    assert token_attempt(client, "alice", "198.51.100.2", password="secret-pw").status_code == 201


def login(client, password: str, peer: str = "198.51.100.1"):
    return client.post("/login/", {"username": "alice", "password": password}, REMOTE_ADDR=peer)


def test_login_answers_429_with_a_message_after_too_many_wrong_passwords(client, user):
    for _ in range(5):
        wrong = login(client, "wrong")
        assert wrong.status_code == 200 and b"Please enter a correct" in wrong.content
    refused = login(client, "secret-pw")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    page = refused.content.decode()
    assert "too many sign-in attempts" in page and "try again in" in page and 'role="alert"' in page
    assert "_auth_user_id" not in client.session  # the right password did not log in
    assert login(client, "secret-pw", peer="198.51.100.2").status_code == 429  # per user name too


def test_login_works_under_the_limit(client, user):
    assert login(client, "wrong").status_code == 200
    assert login(client, "secret-pw").status_code == 302
