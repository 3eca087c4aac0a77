"""Inference under open-loop load, with load shedding off and on, in the same run.

A real gunicorn started like scripts/start (mlops_site/gunicorn_conf.py: 2 processes, gthread),
loopback, the bundled data, a known version of a small LSTM (zero weights: the same forward
pass as a trained one). Requests are sent at a fixed rate whatever the answers (open loop: a
slow server does not slow the sender), each on a new connection, and latency is measured from
the moment a request was due, so time spent queueing anywhere counts.

1. Start both configurations (two servers), warm them, and measure capacity: closed loop, 16
   clients, the better of the two.
2. For rates below and above it, the configurations take turns (so both see the same noise of
   a shared machine); report the answered forecasts per second, their p50/p99, the share of
   503s and how fast those came, and other errors.

Configurations: "before" is the previous production setting (2 × 4 threads, every request
queued); "shedding" is the default now (2 × WEB_THREADS threads, ADMISSION_MAX_CONCURRENT
admitted per process). BENCH_SECONDS sets each run's length (default 15), BENCH_RATES the rates
as multiples of capacity (default 0.5,1,1.5,2,3), BENCH_CONFIGS other configurations to compare
(JSON: name → environment overrides; the first is the baseline of the ratios).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
from _setup import ROOT, django_embedded

CELL, FIELD = 11016973, "sinr_mean"
SECONDS = float(os.environ.get("BENCH_SECONDS", 15))
RATES = [float(r) for r in os.environ.get("BENCH_RATES", "0.5,1,1.5,2,3").split(",")]
TIMEOUT = 60.0
CONFIGS = json.loads(os.environ.get("BENCH_CONFIGS", "null")) or {
    "before (2x4 threads, no shedding)": {"WEB_THREADS": "4", "ADMISSION_MAX_CONCURRENT": "0"},
    "shedding (defaults)": {},
}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Result:
    ok: list[float] = field(default_factory=list)  # latency of 200s, s
    shed: list[float] = field(default_factory=list)  # latency of 503s
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # from the first request due to the last answer

    @property
    def total(self) -> int:
        return len(self.ok) + len(self.shed) + sum(self.errors.values())


class Target:
    def __init__(self, port: int, token: str, model_id: str) -> None:
        body = json.dumps({"output_field": FIELD, "cell_id": CELL, "model_id": model_id}).encode()
        self.port = port
        self.request = (f"POST /v1/inference HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                        "Connection: close\r\n\r\n").encode() + body

    async def send(self) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(self.request)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            return status
        finally:
            writer.close()

    async def timed(self, due: float, result: Result) -> None:
        loop = asyncio.get_running_loop()
        try:
            status = await asyncio.wait_for(self.send(), TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            result.errors[type(error).__name__] = result.errors.get(type(error).__name__, 0) + 1
            return
        latency = loop.time() - due
        if status == 200:
            result.ok.append(latency)
        elif status == 503:
            result.shed.append(latency)
        else:
            result.errors[str(status)] = result.errors.get(str(status), 0) + 1

    async def open_loop(self, rate: float, seconds: float) -> Result:
        loop, result, tasks = asyncio.get_running_loop(), Result(), []
        start = loop.time() + 0.05
        for i in range(int(rate * seconds)):
            due = start + i / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(self.timed(due, result)))
        await asyncio.gather(*tasks)
        result.seconds = loop.time() - start
        return result

    async def closed_loop(self, clients: int, seconds: float) -> float:
        loop = asyncio.get_running_loop()
        end, done = loop.time() + seconds, [0]

        async def client() -> None:
            while loop.time() < end:
                if await self.send() == 200:
                    done[0] += 1

        await asyncio.gather(*(client() for _ in range(clients)))
        return done[0] / seconds


def report(name: str, multiple: float, rate: float, result: Result) -> str:
    ms = {q: percentile(result.ok, q) * 1000 for q in (50, 99)}
    shed = len(result.shed) / max(1, result.total)
    return (f"{name:34} {multiple:4.1f}x {rate:5.0f}/s  ok {len(result.ok) / result.seconds:5.0f}/s  "
            f"p50 {ms[50]:7.0f} ms  p99 {ms[99]:7.0f} ms  503 {shed:6.1%} "
            f"(p99 {percentile(result.shed, 99) * 1000:5.0f} ms)  errors {result.errors or 0}")


def start_server(port: int, overrides: dict[str, str]) -> subprocess.Popen:
    env = dict(os.environ, LOG_LEVEL="WARNING", **overrides)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "mlops_site/gunicorn_conf.py", "mlops_site.wsgi",
                               "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code < 500:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not start")


def warm(target: Target) -> None:
    """Every process loads the version and opens its database connection before measuring."""
    asyncio.run(target.closed_loop(8, 3))


def main() -> None:
    django_embedded()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from access.models import ApiToken
    from registry import services as registry_services
    from tests.factories import known_version

    model = registry_services.model_config_create(
        name="bench-lstm", architecture="lstm", input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"],
        output_fields=[FIELD], window_duration_seconds=10, lookback_steps=12, forecast_steps=3, hidden_size=32)
    with transaction.atomic():
        known_version(model)
    _, token = ApiToken.issue(user=get_user_model().objects.create_user("bench"), name="bench")
    servers, targets = [], {}
    try:
        for port, (name, overrides) in enumerate(CONFIGS.items(), start=18062):
            servers.append(start_server(port, overrides))
            targets[name] = Target(port, token, str(model.id))
            warm(targets[name])
        first = next(iter(CONFIGS))
        # The better of the two: one reading taken while the shared machine is busy says little.
        capacity = max(asyncio.run(target.closed_loop(16, 10)) for target in targets.values())
        print(f"capacity (closed loop, 16 clients, 10 s, the better configuration): {capacity:.0f} forecasts/s")
        rows = []
        for multiple in RATES:  # the configurations take turns at each rate: they share the machine's noise
            for name, target in targets.items():
                result = asyncio.run(target.open_loop(capacity * multiple, SECONDS))
                rows.append((name, multiple, capacity * multiple, result))
                print(report(name, multiple, capacity * multiple, result), flush=True)
                time.sleep(3)
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)

    print(f"\np99 of answered forecasts, {first} / each other configuration (same rate):")
    before = {m: r for n, m, _, r in rows if n == first}
    for name, multiple, rate, result in rows:
        if name != first:
            ratio = percentile(before[multiple].ok, 99) / percentile(result.ok, 99)
            print(f"  {name}, {multiple:.1f}x capacity ({rate:.0f}/s): {ratio:.1f}x")

if __name__ == "__main__":
    main()
