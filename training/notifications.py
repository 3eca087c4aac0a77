"""The alert of the training app: a job failed. Called by `training_job_fail` inside its
transaction (`alerts.services.alert_emit`)."""

from __future__ import annotations

from django.urls import reverse

from alerts.models import EventType
from alerts.services import alert_emit
from training.models import TrainingJob


def job_failed(*, job: TrainingJob, error: str) -> None:
    model = job.model
    alert_emit(
        type=EventType.JOB_FAILED, fields=model.output_fields,
        text=f"training job of {model.name} failed ({job.reason or 'no reason given'}): {error[:300]}",
        models=[{"id": str(model.id), "name": model.name, "version": None, "role": "training"}],
        data={"job_id": str(job.id), "reason": job.reason, "worker": job.worker, "error": error[:2000],
              "started_at": job.started_at.isoformat() if job.started_at else None},
        links={"model": reverse("model", args=[model.id]), "jobs": reverse("jobs"),
               "job": f"/v1/training/jobs/{job.id}"},
    )
