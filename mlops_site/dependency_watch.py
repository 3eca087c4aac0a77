"""The dependency watcher: every minute a worker runs the /v1/health probes (`health.run_checks`)
and hands each result to `alerts.services.dependency_observe`, which keeps each dependency's
down-since state in the database and sends `dependency.down` once an outage has lasted
ALERTS_DEPENDENCY_DOWN_SECONDS (and `dependency.recovered` when it ends).

It lives here, at the top, because the probes reach every dependency; the state and the events
are the alerts app's. The database and the broker cannot report their own outage this way (the
event is a database row, the schedule needs the broker): the Prometheus rules cover those.
"""

from __future__ import annotations

from alerts.services import dependency_observe
from mlops_site.health import run_checks


def watch() -> list[str]:
    _, results = run_checks()
    lines = []
    for name, result in results.items():
        sent = dependency_observe(name=name, up=result["status"] == "up", detail=result["detail"],
                                  required=result["required"])
        lines.append(f"{name}: {result['status']}" + (f" ({sent} sent)" if sent else ""))
    return lines
