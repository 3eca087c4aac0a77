"""Scale-out on the Redis broker: the same batch of training jobs run by one worker cluster and
by two, each with one worker process. Baseline for the ratio: the single cluster.

Needs the test services: `source scripts/venv.sh && source scripts/services.sh up` first
(PostgreSQL, MLflow, S3); starts its own redis-server and a throwaway database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
JOBS = 8


def main() -> None:
    assert os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"), "source scripts/services.sh up first"
    import tempfile

    from tests.integration.redis_server import RedisServer

    folder = Path(tempfile.mkdtemp(prefix="cellwise-scale-"))
    redis = RedisServer(folder)
    database = f"cellwise_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    env = dict(os.environ, DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{database}", Q_BROKER="redis",
               REDIS_URL=redis.url, Q_WORKERS="1", OMP_NUM_THREADS="1", MONITORING_ENABLED="false",
               CELLWISE_VAR_DIR=str(folder / "var"), LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="mlops_site.settings")
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from registry import services as registry_services
    from training import services
    from training.models import JobStatus, TrainingJob

    def run(clusters: int) -> float:
        models = [registry_services.model_config_create(
            name=f"scale-{clusters}-{i}", architecture="ann", input_fields=["sinr_mean", "rsrp_mean"],
            output_fields=["sinr_mean"], window_duration_seconds=10, lookback_steps=12, forecast_steps=1,
            hidden_size=64, epochs=40, patience=40) for i in range(JOBS)]
        workers = [subprocess.Popen([sys.executable, "manage.py", "worker"], cwd=ROOT,
                                    env=dict(env, CELLWISE_WORKER_NAME=f"c{c}"), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True) for c in range(clusters)]
        began = time.perf_counter()
        ids = [services.training_job_create(model=m, reason="bench").id for m in models]
        while TrainingJob.objects.filter(id__in=ids, status=JobStatus.COMPLETED).count() < JOBS:
            failed = TrainingJob.objects.filter(id__in=ids, status=JobStatus.FAILED).first()
            assert failed is None, failed.error_message
            time.sleep(0.5)
        wall = time.perf_counter() - began
        for worker in workers:  # the measurement is done: no need for a graceful stop
            os.killpg(worker.pid, 9)
            worker.wait(30)
        clusters_used = {j.worker.split(":")[0] for j in TrainingJob.objects.filter(id__in=ids)}
        print(f"{clusters} cluster(s): {JOBS} jobs in {wall:.1f} s = {JOBS / wall * 3600:.0f} jobs/hour; "
              f"ran on {sorted(clusters_used)}")
        return wall

    try:
        one, two = run(1), run(2)
        print(f"throughput ratio two/one: {one / two:.2f}x (goal ~2x on 2 cores)")
    finally:
        redis.stop()
        from django.db import connections

        connections.close_all()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {database}"], check=False)


if __name__ == "__main__":
    main()
