"""GET /v1/health of a real web process while its dependencies are stopped in turn: real
processes (PostgreSQL, Redis, the S3 server, MLflow, the Data Storage HTTP server) are stopped,
nothing is patched. ClickHouse runs in-process here (chdb) and cannot be stopped on its own;
its "down" answer is shown against an address where nothing listens."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import boto3
import httpx
import pytest

from tests.integration.processes import ROOT, PostgresCluster, mlflow, moto, web
from tests.integration.redis_server import RedisServer, free_port
from tests.telemetry.fake_data_storage import FakeDataStorage
from tests.telemetry.test_data_storage import make_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def health(url: str) -> tuple[int, dict]:
    response = httpx.get(f"{url}/v1/health", timeout=30)
    return response.status_code, response.json()


@pytest.fixture
def stack(tmp_path):
    started = []
    pg = PostgresCluster()
    redis = RedisServer(tmp_path)
    s3 = moto(tmp_path).start()
    tracking = mlflow(tmp_path).start()
    storage = FakeDataStorage(make_rows(50), era="B")
    started += [s3, tracking]
    boto3.client("s3", endpoint_url=s3.url, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="cellwise")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_SETTINGS", "CELLWISE_TEST"))}
    env.update({
        "DATABASE_URL": pg.url, "DATABASE_CONN_MAX_AGE": "0", "Q_BROKER": "redis", "REDIS_URL": redis.url,
        "MLFLOW_TRACKING_URI": tracking.url, "AWS_S3_ENDPOINT_URL": s3.url, "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "DATA_STORAGE_API_URL": storage.url, "REQUEST_RETRIES": "0",
        "HEALTH_CACHE_SECONDS": "0",
        "CLICKHOUSE_DSN": f"chdb://{tmp_path / 'chdb'}", "CELLWISE_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
    })
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    app = web(tmp_path, env).start()
    started.append(app)
    running = {"app": app, "pg": pg, "redis": redis, "s3": s3, "mlflow": tracking, "storage": storage, "env": env}
    yield running
    for process in reversed(started):
        process.stop()
    running["storage"].stop()  # the test restarts some of them: stop the instance running now
    running["redis"].stop()
    try:
        pg.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped
    pg.remove()


def test_each_dependency_stopped_in_turn(stack, tmp_path):
    url = stack["app"].url

    def all_up() -> None:
        # A dependency just restarted may need a few rounds to answer within the health bound (0.8 s).
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            answer = health(url)
            if answer[0] == 200 and answer[1]["status"] == "ok":
                return
            time.sleep(0.5)
        raise AssertionError(answer)

    def expect_down(name: str, code: int) -> None:
        status, body = health(url)
        assert status == code, body
        assert {n for n, c in body["checks"].items() if c["status"] == "down"} == {name}, body
        assert body["status"] == ("down" if code == 503 else "degraded")

    def restart_s3() -> None:
        stack["s3"].start()
        boto3.client("s3", endpoint_url=stack["s3"].url, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket="cellwise")

    def restart_storage_api() -> None:
        port = int(stack["storage"].url.rsplit(":", 1)[1])
        stack["storage"] = FakeDataStorage(make_rows(50), era="B", port=port)

    def restart_redis() -> None:
        stack["redis"] = RedisServer(tmp_path, port=stack["redis"].port)

    all_up()
    for name, stop, start, code in [
        ("data_source", stack["storage"].stop, restart_storage_api, 200),
        ("storage", stack["s3"].stop, restart_s3, 200),
        ("mlflow", stack["mlflow"].stop, stack["mlflow"].start, 200),
        ("broker", stack["redis"].stop, restart_redis, 503),
        ("database", stack["pg"].stop, stack["pg"].start, 503),
    ]:
        stop()
        expect_down(name, code)
        start()
        all_up()


def test_clickhouse_down_is_reported(client, settings, db):
    settings.CLICKHOUSE_DSN = f"http://127.0.0.1:{free_port()}"
    body = client.get("/v1/health").json()
    assert body["checks"]["clickhouse"]["status"] == "down" and body["status"] in ("degraded", "down")
