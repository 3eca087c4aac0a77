"""Shared fixtures: users, API tokens, an authenticated API client, and the real services.

Services come from scripts/services.sh (run by scripts/test and CI). A test that needs one
fails with a clear message when it is missing: it never skips.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from access.models import ApiToken


def pytest_sessionfinish(session, exitstatus):
    """A test must leave no process behind: fail the run, naming what is left (then end it)."""
    import signal
    import time

    from core.processes import command_line, descendants

    deadline = time.monotonic() + 5  # processes stopped by the last tests may take a moment to exit
    while (left := descendants(os.getpid())) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not left:
        return
    report = session.config.pluginmanager.get_plugin("terminalreporter")
    report.ensure_newline()
    report.write_line(f"{len(left)} processes started by the tests were left running:", red=True)
    for pid in left:
        report.write_line(f"  {pid}: {command_line(pid)[:200]}", red=True)
    for pid in reversed(left):  # grandchildren first
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def required_service(variable: str, what: str, prefix: str = "") -> str:
    value = os.environ.get(variable, "")
    if not value.startswith(prefix) or not value:
        pytest.fail(f"{what} is not available ({variable}={value!r}); run the tests with scripts/test, "
                    "which starts the services (scripts/services.sh)")
    return value


@pytest.fixture(scope="session")
def mlflow_server_uri() -> str:
    return required_service("MLFLOW_TRACKING_URI", "the MLflow tracking server", "http")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    return required_service("AWS_S3_ENDPOINT_URL", "the S3 server", "http")


@pytest.fixture(scope="session")
def clickhouse_dsn() -> str:
    return required_service("CELLWISE_TEST_CLICKHOUSE_DSN", "ClickHouse (chdb)", "chdb://")


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users
    # Tests count the models they make; tests/registry/test_naive_auto.py turns it on (processes
    # the tests start read the environment: there it is on, the default).
    settings.NAIVE_MODELS_AUTO = False
    # The manifest storage needs collectstatic; tests render pages without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_inference_cache():
    """Version ids can repeat across tests (rolled-back rows); never serve another test's bundle."""
    from django.core.cache import cache as django_cache

    from inference import cache

    cache.clear()
    django_cache.clear()  # cell readiness is cached per version id too
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Per-process state that would leak from one test into the next: what the dependency
    breakers learnt, a worker stop request, the cached health answer."""
    from core import resilience, shutdown
    from mlops_site import health
    from telemetry import sources

    resilience.reset()
    shutdown.reset()
    health.forget()
    sources._listings.clear()  # cell lists kept per source (a test server's port can come back)
    yield
    resilience.reset()
    shutdown.reset()


@pytest.fixture
def user(db, django_user_model):
    """An operator (may change things)."""
    from django.contrib.auth.models import Group

    alice = django_user_model.objects.create_user("alice", password="secret-pw")
    alice.groups.add(Group.objects.get_or_create(name="operators")[0])
    return alice


@pytest.fixture
def viewer(db, django_user_model):
    """A viewer (read only)."""
    from django.contrib.auth.models import Group

    bob = django_user_model.objects.create_user("bob", password="secret-pw")
    bob.groups.add(Group.objects.get_or_create(name="viewers")[0])
    return bob


@pytest.fixture
def viewer_api(client, viewer) -> Api:
    return Api(client, ApiToken.issue(user=viewer, name="tests")[1])


@pytest.fixture
def token(user) -> str:
    return ApiToken.issue(user=user, name="tests")[1]


@dataclass
class Api:
    """The Django test client speaking JSON to /v1 with a bearer token (or none)."""

    client: object
    token: str | None

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params):
        return self.client.get(f"/v1{path}", params, headers=self._headers())

    def post(self, path: str, body: dict | None = None):
        return self.client.post(f"/v1{path}", json.dumps(body or {}), content_type="application/json",
                                headers=self._headers())

    def delete(self, path: str):
        return self.client.delete(f"/v1{path}", headers=self._headers())


@pytest.fixture
def api(client, token) -> Api:
    return Api(client, token)


@pytest.fixture
def anonymous_api(client, db) -> Api:
    return Api(client, None)


@pytest.fixture
def make_model(db):
    """Create a model through the registry service (fields validated against the bundled data)."""
    from registry import services

    counter = iter(range(10_000))

    def make(**overrides):
        spec = dict(name=f"model-{next(counter)}", architecture="ann", input_fields=["sinr_mean", "rsrp_mean"],
                    output_fields=["sinr_mean"], window_duration_seconds=60, lookback_steps=6, forecast_steps=2,
                    hidden_size=8, epochs=3)
        spec.update(overrides)
        return services.model_config_create(**spec)

    return make


@pytest.fixture(scope="session", autouse=True)
def _no_stray_database_sessions(django_db_setup, django_db_blocker):
    """Worker processes killed by the tests may leave a PostgreSQL session behind for a moment;
    end them so the test database can be dropped cleanly."""
    yield
    with django_db_blocker.unblock():
        from django.db import connection

        # A run without database tests never created the test database (and must not touch the real one).
        if connection.vendor == "postgresql" and connection.settings_dict["NAME"].startswith("test_"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
