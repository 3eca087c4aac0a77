"""Django set-up for benchmarks: embedded defaults in a throwaway folder."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_embedded(*, mlflow_uri: str | None = None, database_url: str | None = None) -> Path:
    """Configure Django on SQLite (or `database_url`), a local MLflow store (or `mlflow_uri`)
    and local files in a temp dir; migrate."""
    var = Path(tempfile.mkdtemp(prefix="cellwise-bench-"))
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "AWS_S3_ENDPOINT_URL", "DATA_STORAGE_API_URL",
                 "CLICKHOUSE_DSN", "TELEMETRY_SOURCE"):
        os.environ.pop(name, None)
    if mlflow_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["CELLWISE_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return var
