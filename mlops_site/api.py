"""The /v1 API: one NinjaAPI, every app's router, and the one place errors become HTTP."""

from __future__ import annotations

from typing import Any

from django.http import Http404, JsonResponse
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, ValidationError

from access.api import router as access_router
from access.auth import WRITE_AUTH
from alerts.api import router as alerts_router
from core.errors import DomainError
from inference.api import forecasts_router, router as inference_router
from mlops_site.health import run_checks
from performance.api import router as performance_router
from registry.api import router as registry_router
from training.api import router as training_router

api = NinjaAPI(
    title="cellwise",
    version="1",
    description="Forecasting models for 5G network KPIs: registry, training, inference, performance.",
    urls_namespace="v1",
    docs_url="/docs",
    auth=WRITE_AUTH,
)


@api.exception_handler(DomainError)
def domain_error(request, error: DomainError):
    response = api.create_response(request, {"detail": error.message, **error.details}, status=error.status_code)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(ValidationError)
def validation_error(request, error: ValidationError):
    problems = []
    for item in error.errors:
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "payload"))
        problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return api.create_response(request, {"detail": "; ".join(problems), "errors": error.errors}, status=422)


@api.exception_handler(AuthenticationError)
def unauthorized(request, error):
    return api.create_response(
        request, {"detail": "authentication required: send 'Authorization: Bearer <token>' or log in"}, status=401
    )


@api.exception_handler(Http404)
def not_found(request, error):
    return api.create_response(request, {"detail": str(error) or "not found"}, status=404)


def unknown_endpoint(request, rest: str = ""):
    """Everything under /v1/ that no operation matches (Django would answer its HTML 404)."""
    return JsonResponse({"detail": f"no such endpoint: {request.method} {request.path} (the API is at /v1/docs)"},
                        status=404)


class HealthOut(Schema):
    status: str
    checks: dict[str, dict[str, Any]]


@api.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None, tags=["health"])
def health(request):
    """Database (required), MLflow and the data source, each up or down with its latency."""
    healthy, checks = run_checks()
    degraded = any(c["status"] == "down" for c in checks.values())
    status = "down" if not healthy else "degraded" if degraded else "ok"
    return Status(200 if healthy else 503, {"status": status, "checks": checks})


api.add_router("/auth", access_router)
api.add_router("/", registry_router)
api.add_router("/training", training_router)
api.add_router("/inference", inference_router)
api.add_router("/forecasts", forecasts_router)
api.add_router("/performance", performance_router)
api.add_router("/alerts", alerts_router)
