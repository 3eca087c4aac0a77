"""Production refusals, security headers, request ids, the token endpoint and its rate limit,
the metrics endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "k" * 10 + "Q7pZr2vX9sLm4Tn8Wc1Yb6Hd3Fj5Gk0Ae"


def check(tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ["PATH"], "CELLWISE_VAR_DIR": str(tmp_path), "CELLWISE_ENV": "production", **env}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("env", "problem"), [
    ({"DJANGO_SECRET_KEY": GOOD_SECRET, "DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be false"),
    ({}, "DJANGO_SECRET_KEY must be set"),
    ({"DJANGO_SECRET_KEY": "change-me-to-a-long-random-string-please-ok"}, "looks like a placeholder"),
    ({"DJANGO_SECRET_KEY": "short"}, "looks like a placeholder"),
    ({"DJANGO_SECRET_KEY": GOOD_SECRET, "DJANGO_ALLOWED_HOSTS": "*"}, 'must name the hosts (not "*")'),
])
def test_production_refuses_to_start(tmp_path, env, problem):
    result = check(tmp_path, **env)
    assert result.returncode != 0 and "refusing to start in production" in result.stderr and problem in result.stderr


def test_production_starts_when_configured(tmp_path):
    result = check(tmp_path, DJANGO_SECRET_KEY=GOOD_SECRET, DJANGO_ALLOWED_HOSTS="cellwise.example.com")
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_security_headers_and_request_ids(client):
    response = client.get("/login/", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    generated = client.get("/login/", headers={"X-Request-ID": "bad id with spaces"})["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated


@pytest.mark.django_db
def test_token_endpoint_issues_hashed_tokens_and_is_rate_limited(client, user, settings):
    from django.core.cache import cache

    from access.models import ApiToken, hash_token

    cache.clear()
    body = {"username": "alice", "password": "secret-pw", "name": "ci"}
    response = client.post("/v1/auth/token", json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    token = response.json()["token"]
    stored = ApiToken.objects.get(name="ci")
    assert stored.key_hash == hash_token(token) and token not in (stored.key_hash, stored.prefix)
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    wrong = client.post("/v1/auth/token", json.dumps({**body, "password": "nope"}), content_type="application/json")
    assert wrong.status_code == 401
    codes = [client.post("/v1/auth/token", json.dumps(body), content_type="application/json").status_code
             for _ in range(12)]
    assert 429 in codes  # 10 a minute per address


def test_request_bodies_are_limited(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 1024 * 1024
