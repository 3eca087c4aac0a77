"""manage.py bootstrap: first-run setup, safe to repeat.

Creates the admin user and an API token (written once to var/admin_credentials.txt, mode
0600), the django-q2 schedules, and optionally the demo models.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from access.models import ApiToken
from core.errors import DomainError
from mlops_site.schedules import ensure_schedules
from registry import mlflow_gateway, services
from registry.models import ModelConfig
from training import services as training_services

# Each brings its field's naive forecasters (NAIVE_MODELS_AUTO): the field serves them while its
# learned models do worse (the 60 s RSRP lstm does, docs/accuracy.md).
DEMO_MODELS: list[dict[str, Any]] = [
    dict(name="demo-sinr-lstm-10s", architecture="lstm", window_duration_seconds=10, lookback_steps=12,
         forecast_steps=3, hidden_size=32, output_fields=["sinr_mean"],
         input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"]),
    dict(name="demo-sinr-ann-10s", architecture="ann", window_duration_seconds=10, lookback_steps=12,
         forecast_steps=3, hidden_size=32, output_fields=["sinr_mean"],
         input_fields=["sinr_mean", "rsrp_mean", "rsrq_mean", "cqi_mean"]),
    dict(name="demo-rsrp-lstm-60s", architecture="lstm", window_duration_seconds=60, lookback_steps=5,
         forecast_steps=1, hidden_size=32, output_fields=["rsrp_mean"],
         input_fields=["rsrp_mean", "rsrq_mean", "sinr_mean"]),
]


class Command(BaseCommand):
    help = "Create the admin user, an API token, the schedules and (with --demo) the demo models."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="create the demo models if there are no models")

    def handle(self, *args, demo: bool, **options):
        credentials = Path(settings.VAR_DIR) / "admin_credentials.txt"
        user_model = get_user_model()
        admin = user_model.objects.filter(is_superuser=True).order_by("id").first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = user_model.objects.create_superuser("admin", password=password)
            _, token = ApiToken.issue(user=admin, name="bootstrap")
            credentials.write_text(f"user: admin\npassword: {password}\napi token: {token}\n")
            credentials.chmod(0o600)
            self.stdout.write(f"Created the admin user; credentials in {credentials}")
        if mlflow_gateway.ensure_local_store():
            self.stdout.write(f"Created the local MLflow store {settings.MLFLOW_TRACKING_URI}")
        for change in ensure_schedules():
            self.stdout.write(f"schedule: {change}")
        if demo and not ModelConfig.objects.exists():
            for spec in DEMO_MODELS:
                try:
                    model = services.model_config_create(**spec, user=admin)
                    # Trained by the worker; the field is evaluated each time one of them is done.
                    training_services.training_job_create(model=model, user=admin, reason="demo",
                                                          hook="performance.tasks.evaluate_fields_after_training")
                    self.stdout.write(f"demo model {spec['name']} created and queued for training")
                except DomainError as error:
                    self.stderr.write(f"demo model {spec['name']} not created: {error.message}")
        if credentials.exists():
            self.stdout.write(f"Log in at http://localhost:{settings.API_PORT}/admin/ with:\n{credentials.read_text()}")
