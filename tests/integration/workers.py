"""Real django-q2 worker processes (`manage.py worker`) pointed at the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**overrides: str) -> dict[str, str]:
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        raise AssertionError("worker-process tests need PostgreSQL (run them with scripts/test)")
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
        "Q_WORKERS": "1",
        "OMP_NUM_THREADS": "1",
        "MONITORING_ENABLED": "false",
        "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
    })
    env.update(overrides)
    return env


class Worker:
    def __init__(self, log_dir: Path, name: str = "worker", **env: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        self.env = worker_env(**env)
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "manage.py", "worker"], cwd=ROOT, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the master and every worker child, no clean-up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_for(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
