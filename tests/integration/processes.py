"""Private service processes a test can stop and start: PostgreSQL, the S3 stand-in, MLflow,
and the web app (gunicorn) itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.integration.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PGROOT = Path("/usr/lib/postgresql")
PGBIN = PGROOT / (sorted(os.listdir(PGROOT))[-1] if PGROOT.exists() else "15") / "bin"


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


class PostgresCluster:
    """A throwaway cluster (initdb, trust auth) owned by the postgres user."""

    def __init__(self) -> None:
        # Its own folder under /tmp: pytest's tmp_path sits in a root-only directory.
        base = Path(tempfile.mkdtemp(prefix="cellwise-pg-"))
        base.chmod(0o755)
        self.folder = base / "data"
        self.folder.mkdir(mode=0o700)
        shutil.chown(self.folder, "postgres")
        self.port = free_port()
        self._as_postgres("initdb", "-D", str(self.folder), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc",
                        "CREATE DATABASE cellwise"], check=True, capture_output=True)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/cellwise"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / tool), *args], check=True,
                       capture_output=True)

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.folder), "-l", str(self.folder / "log"), "-w", "-o",
                          f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.folder), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.folder.parent, ignore_errors=True)


class Process:
    """A long-running command with a readiness URL."""

    def __init__(self, command: list[str], ready_url: str, log: Path, env: dict | None = None,
                 timeout: float = 60) -> None:
        self.command, self.ready_url, self.log, self.env, self.timeout = command, ready_url, log, env, timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=open(self.log, "ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(self.ready_url, self.timeout)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(5)


def moto(folder: Path) -> Process:
    port = free_port()
    server = Process([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                     f"http://127.0.0.1:{port}/moto-api/", folder / "moto.log")
    server.url = f"http://127.0.0.1:{port}"
    return server


def mlflow(folder: Path) -> Process:
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    server = Process([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                      "--default-artifact-root", str(folder / "mlartifacts")],
                     f"http://127.0.0.1:{port}/health", folder / "mlflow.log", env=env, timeout=120)
    server.url = f"http://127.0.0.1:{port}"
    return server


def web(folder: Path, env: dict, workers: int = 1, *, threads: int | None = None,
        ready_path: str = "/v1/health") -> Process:
    """gunicorn with the configuration every web process uses (mlops_site/gunicorn_conf.py);
    `threads` overrides its thread count."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "mlops_site/gunicorn_conf.py", "mlops_site.wsgi",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "600"]
    if threads:
        command += ["--threads", str(threads)]
    server = Process(command, f"http://127.0.0.1:{port}{ready_path}", folder / "web.log", env=env)
    server.url = f"http://127.0.0.1:{port}"
    return server
