"""Sign-in limits against a real gunicorn (two worker processes sharing counts through a real
redis-server as CACHE_URL). Clients connect from 127.0.0.1; 127.0.0.2 plays a reverse proxy
(TRUSTED_PROXIES), so both a direct client and a proxied one are real TCP peers."""

from __future__ import annotations

import httpx
import pytest
from redis import Redis

from tests.integration.processes import web
from tests.integration.redis_server import RedisServer
from tests.integration.workers import worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
LIMIT = 3  # each wrong password costs the server a PBKDF2 hash (~0.5 s here)
PROXY = "127.0.0.2"


@pytest.fixture(scope="module")
def started(tmp_path_factory, django_db_setup):
    folder = tmp_path_factory.mktemp("throttle")
    redis = RedisServer(folder)
    env = worker_env(CACHE_URL=f"rediscache://127.0.0.1:{redis.port}/0", TRUSTED_PROXIES=PROXY,
                     TOKEN_RATE_LIMIT=f"{LIMIT}/m", LOG_LEVEL="WARNING", DATABASE_CONN_MAX_AGE="0")
    app = web(folder, env, workers=2).start()
    yield app, redis
    app.stop()
    redis.stop()


@pytest.fixture
def server(started, user, settings):
    """The server with fresh counts, and alice's password hashed the way the server checks it."""
    app, redis = started
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # the server's default
    user.set_password("secret-pw")
    user.save()
    Redis(port=redis.port).flushall()
    return app


def attempt(url: str, username: str, *, source: str = "127.0.0.1", forwarded: str | None = None,
            password: str = "wrong") -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    # A new connection each time, so both worker processes answer.
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as client:
        return client.post(f"{url}/v1/auth/token", json={"username": username, "password": password},
                           headers=headers)


def test_a_forged_forwarded_header_does_not_bypass_the_limit(server):
    codes = [attempt(server.url, f"user{i}", forwarded=f"203.0.113.{i}").status_code for i in range(LIMIT + 4)]
    assert codes == [401] * LIMIT + [429] * 4
    refused = attempt(server.url, "alice", forwarded="198.51.100.1", password="secret-pw")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_behind_a_trusted_proxy_forwarded_clients_are_counted_apart(server):
    first = [attempt(server.url, f"user{i}", source=PROXY, forwarded="203.0.113.1").status_code
             for i in range(LIMIT + 1)]
    assert first == [401] * LIMIT + [429]
    # A client can prepend anything; the proxy's own entry (the right-most) is what counts.
    assert attempt(server.url, "other", source=PROXY, forwarded="203.0.113.2, 203.0.113.1").status_code == 429
    assert attempt(server.url, "other", source=PROXY, forwarded="203.0.113.2").status_code == 401
    assert attempt(server.url, "alice", source=PROXY, forwarded="203.0.113.3", password="secret-pw").status_code == 201


def test_the_user_name_limit_holds_across_forwarded_addresses(server):
    codes = [attempt(server.url, "alice", source=PROXY, forwarded=f"203.0.113.{i}").status_code
             for i in range(LIMIT + 2)]
    assert codes == [401] * LIMIT + [429] * 2
    assert "for this user name" in attempt(server.url, "alice", source=PROXY, forwarded="198.51.100.9").json()["detail"]
