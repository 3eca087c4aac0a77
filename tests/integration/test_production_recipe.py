"""The production recipe without Docker, run for real: the Procfile's commands (which the systemd
units in deploy/ run too) start a production-mode web process on the host (migrations, static
files, bootstrap, gunicorn on API_PORT) and a worker, and both stop on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import ROOT, wait_http
from tests.integration.redis_server import free_port
from tests.integration.workers import wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PROCFILE = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line)


def test_the_systemd_units_run_the_procfile_commands():
    assert set(PROCFILE) == {"web", "worker"}
    for unit, process in (("cellwise-web.service", "web"), ("cellwise-worker@.service", "worker")):
        text = (ROOT / "deploy" / "systemd" / unit).read_text()
        assert f"ExecStart=/opt/cellwise/{PROCFILE[process]}\n" in text, unit
        stop = int(re.search(r"^TimeoutStopSec=(\d+)$", text, re.M).group(1))
        assert stop > 30, unit  # above the worker's grace period and gunicorn's graceful timeout


@pytest.fixture
def processes(tmp_path):
    started: list[subprocess.Popen] = []

    def start(name: str, env: dict) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{name}.log"
        # As a Procfile runner does (sh -c); exec, so that the signals and exit status are the process's.
        process = subprocess.Popen(["sh", "-c", f"exec {PROCFILE[name]}"], cwd=ROOT, env=env,
                                   stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        return process, log

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def stop(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGTERM)
    return process.wait(40)


def test_web_and_worker_from_the_procfile_in_production_mode(processes, tmp_path, mlflow_server_uri, s3_endpoint):
    port = free_port()
    env = worker_env(
        CELLWISE_ENV="production", DJANGO_SECRET_KEY="", DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        CELLWISE_VAR_DIR=str(tmp_path / "var"), API_HOST="127.0.0.1", API_PORT=str(port), WEB_WORKERS="1",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    web, web_log = processes("web", env)
    wait_http(f"http://127.0.0.1:{port}/v1/health", timeout=180)
    output = web_log.read_text()
    assert f"Log in at http://localhost:{port}/admin/" in output  # bootstrap names API_PORT

    login = httpx.get(f"http://127.0.0.1:{port}/login/")
    assert login.status_code == 200  # the manifest storage found collectstatic's manifest
    stylesheet = re.search(r'href="(/static/cellwise/app\.[0-9a-f]{12}\.css)"', login.text).group(1)
    served = httpx.get(f"http://127.0.0.1:{port}{stylesheet}")
    assert served.status_code == 200 and "max-age" in served.headers["cache-control"]  # WhiteNoise
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0  # generated once, private

    worker, worker_log = processes("worker", env)
    wait_for(lambda: "running." in worker_log.read_text(), timeout=120, message="the worker cluster to run")
    assert stop(worker) == 0, worker_log.read_text()[-2000:]
    assert "the worker has stopped" in worker_log.read_text()
    stop(web)
