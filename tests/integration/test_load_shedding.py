"""Load shedding in a real gunicorn: one process, 8 threads, 2 requests admitted at once (2 more
may wait 0.2 s). Its data source is a real HTTP server that takes DELAY seconds to answer, so
two GET /v1/fields hold the process's slots; the others must get 503 with Retry-After at once
(not after DELAY), the two admitted must still succeed, and health and metrics are never shed."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.integration.processes import web
from tests.integration.workers import worker_env

pytestmark = [pytest.mark.integration]
DELAY = 3.0
FLOOD = 10


class SlowStorage:
    """The Data Storage API's example endpoint (what field discovery reads), `delay` s per answer."""

    def __init__(self) -> None:
        self.delay = 0.0
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                time.sleep(storage.delay)
                body = json.dumps([{"cell_index": 1, "sinr_mean": 0.0, "rsrp_mean": 0.0}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(tmp_path, db):  # the server reads the test database (health checks it)
    storage = SlowStorage()
    env = worker_env(DATA_STORAGE_API_URL=storage.url, FIELD_DISCOVERY_CACHE_SECONDS="0", REQUEST_RETRIES="0",
                     REQUEST_DEADLINE_SECONDS="30",
                     API_PUBLIC_READS="true", WEB_THREADS="8", ADMISSION_MAX_CONCURRENT="2", ADMISSION_MAX_WAITING="2",
                     ADMISSION_WAIT_SECONDS="0.2", ADMISSION_RETRY_AFTER_SECONDS="2", METRICS_KEY="scrape",
                     LOG_LEVEL="WARNING")
    app = web(tmp_path, env, workers=1).start()
    storage.delay = DELAY
    yield app
    app.stop()
    storage.stop()


def timed_get(url: str, **headers: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=60)  # a new connection each time
    return response, time.monotonic() - began


def test_a_saturated_process_sheds_at_once_and_serves_what_it_admitted(server):
    with ThreadPoolExecutor(FLOOD + 2) as pool:
        flood = [pool.submit(timed_get, f"{server.url}/v1/fields") for _ in range(FLOOD)]
        time.sleep(0.5 * DELAY)  # the two admitted requests are still waiting for the source
        health = pool.submit(timed_get, f"{server.url}/v1/health")
        metrics = pool.submit(timed_get, f"{server.url}/metrics", Authorization="Bearer scrape")
        results = [future.result() for future in flood]

    admitted = [(r, s) for r, s in results if r.status_code == 200]
    shed = [(r, s) for r, s in results if r.status_code == 503]
    assert len(admitted) + len(shed) == FLOOD, [r.status_code for r, _ in results]
    assert 1 <= len(admitted) <= 3 and len(shed) >= FLOOD - 3
    for response, seconds in admitted:
        assert seconds >= DELAY and "sinr_mean" in {f["name"] for f in response.json()["fields"]}
    for response, seconds in shed:
        assert seconds < DELAY * 0.66, f"a 503 took {seconds:.2f} s: it waited for a slot instead of being shed"
        assert response.headers["Retry-After"] == "2" and response.headers["Content-Type"] == "application/json"
        assert "overloaded" in response.json()["detail"]

    assert health.result()[0].status_code == 200  # probes see a busy server as alive
    scraped = metrics.result()[0]
    assert scraped.status_code == 200
    shed_total = next(line for line in scraped.text.splitlines() if line.startswith("cellwise_requests_shed_total"))
    assert float(shed_total.split()[-1]) >= len(shed) - 1  # counted (the scrape may race the last one)

    response, _ = timed_get(f"{server.url}/v1/fields")  # slots are released once the admitted finish
    assert response.status_code == 200
