"""The one place that builds an MLflow client. mlflow is imported lazily: it costs ~3.6 s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"


def client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_TRACKING_URI)


def error_code(error: BaseException) -> str | None:
    """MLflow's error code (e.g. RESOURCE_DOES_NOT_EXIST) or None for transport failures."""
    return getattr(error, "error_code", None)


def ensure_local_store() -> bool:
    """Create a local `sqlite:` tracking store's schema now, in one process.

    Several workers opening a missing store at once race on its migrations; bootstrap calls this
    before any worker starts. Returns True when it created the store.
    """
    uri = settings.MLFLOW_TRACKING_URI
    if not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists():
        return False
    client().search_experiments(max_results=1)
    return True
