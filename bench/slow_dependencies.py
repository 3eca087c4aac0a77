"""Slow or dead dependencies against a real web process (gunicorn, 1 worker × 4 threads, embedded
defaults): /v1/health latency, and 24 concurrent inferences with the Data Storage API down while
an unrelated GET /v1/models is timed.

Each case runs twice in the same run: with the settings as shipped (deadline, breaker, bounded
health) and with them turned off (`unbounded`: 4 attempts with 0.5 s backoff, no deadline, no
breaker, health waits for every probe), the behaviour before. Ratios are against the
healthy baseline measured first.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import django_embedded  # noqa: E402

UNBOUNDED = {"REQUEST_RETRIES": "3", "REQUEST_BACKOFF_SECONDS": "0.5", "REQUEST_DEADLINE_SECONDS": "3600",
             "BREAKER_FAILURES": "1000000", "HEALTH_TIMEOUT_SECONDS": "3600"}


def timed(method: str, url: str, **kwargs) -> tuple[float, int]:
    began = time.monotonic()
    response = httpx.request(method, url, timeout=600, **kwargs)
    return time.monotonic() - began, response.status_code


def main() -> None:
    var = django_embedded()
    from django.contrib.auth.models import User

    from access.models import ApiToken
    from registry import services
    from tests.factories import known_version
    from tests.integration.faults import SilentServer, closed_port
    from tests.integration.processes import web

    admin = User.objects.create_superuser("bench", password="bench-pw")
    token = ApiToken.issue(user=admin, name="bench")[1]
    model = services.model_config_create(name="bench", architecture="ann", input_fields=["sinr_mean"],
                                         output_fields=["sinr_mean"], window_duration_seconds=10,
                                         lookback_steps=12, forecast_steps=1, hidden_size=8)
    known_version(model)
    headers = {"Authorization": f"Bearer {token}"}
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    base.update(CELLWISE_VAR_DIR=str(var), HEALTH_CACHE_SECONDS="0", LOG_LEVEL="WARNING")

    def serve(**env: str):
        return web(var, {**base, **env}, threads=4, ready_path="/v1/models").start()

    def health(app, n: int = 5) -> tuple[float, float]:
        """The first answer (first probes, a hung one included) and the median of the next n."""
        first = timed("GET", f"{app.url}/v1/health")[0]
        return first, statistics.median(timed("GET", f"{app.url}/v1/health")[0] for _ in range(n))

    app = serve()
    cold, healthy = health(app)
    idle_list = statistics.median(timed("GET", f"{app.url}/v1/models", headers=headers)[0] for _ in range(5))
    app.stop()
    print(f"baseline (all up, bundled data): health first {cold * 1000:.0f} ms, then {healthy * 1000:.0f} ms; "
          f"GET /v1/models {idle_list * 1000:.0f} ms")

    with SilentServer() as hung:
        for label, extra in (("bounded", {}), ("unbounded", UNBOUNDED)):
            for case, env in (("data source down", {"DATA_STORAGE_API_URL": f"http://127.0.0.1:{closed_port()}"}),
                              ("S3 hung", {"AWS_S3_ENDPOINT_URL": hung.url, "AWS_ACCESS_KEY_ID": "x",
                                           "AWS_SECRET_ACCESS_KEY": "x"})):
                app = serve(**env, **extra)
                first, then = health(app, n=1 if label == "unbounded" else 5)
                app.stop()
                print(f"{label:9} health, {case:16}: first {first:6.2f} s ({first / healthy:6.1f}× healthy), "
                      f"then {then:6.2f} s")

        body = {"output_field": "sinr_mean", "cell_id": 11016973, "model_id": str(model.id)}
        for label, extra in (("bounded", {}), ("unbounded", UNBOUNDED)):
            app = serve(DATA_STORAGE_API_URL=f"http://127.0.0.1:{closed_port()}", **extra)
            timed("POST", f"{app.url}/v1/inference", json=body, headers=headers)  # loads torch and the bundle
            with ThreadPoolExecutor(25) as pool:
                burst = [pool.submit(timed, "POST", f"{app.url}/v1/inference", json=body, headers=headers)
                         for _ in range(24)]
                time.sleep(0.2)
                listing = pool.submit(timed, "GET", f"{app.url}/v1/models", headers=headers).result()[0]
                inferences = sorted(f.result()[0] for f in burst)
            after = statistics.median(timed("POST", f"{app.url}/v1/inference", json=body, headers=headers)[0]
                                      for _ in range(5))
            app.stop()
            print(f"{label:9} 24 inferences, source down: p50 {statistics.median(inferences):5.2f} s, "
                  f"max {inferences[-1]:5.2f} s; GET /v1/models meanwhile {listing:5.2f} s "
                  f"({listing / idle_list:5.0f}× idle); one inference after the burst {after * 1000:.0f} ms")


if __name__ == "__main__":
    main()
