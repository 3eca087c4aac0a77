"""Training status per model for `GET /v1/models?include_details=true`."""

from __future__ import annotations

from training.selectors import latest_jobs_by_model


def training_details(models) -> dict:
    latest = latest_jobs_by_model([m.id for m in models])
    return {
        model_id: {"training": {"last_job_id": str(job.id), "status": job.status, "epoch": job.epoch,
                                "total_epochs": job.total_epochs, "created_at": job.created_at.isoformat(),
                                "error_message": job.error_message}}
        for model_id, job in latest.items()
    }
