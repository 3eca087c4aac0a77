"""Jobs are machine-made: read-only here, with cancel and retrain actions calling services."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages

from access.feedback import call_service
from registry.admin import ReadOnlyAdmin, mlflow_run_link
from training import services
from training.models import JobEvent, TrainingJob


def _queued(job: TrainingJob) -> str:
    return f"{job.model}: queued job {job.id}"


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "model", "status", "progress", "val_loss", "mlflow_run", "created_at", "completed_at",
                    "reason")
    list_filter = ("status", "reason")
    search_fields = ("id", "model__name", "error_message")
    list_select_related = ("model", "version")
    actions = ["cancel", "retrain"]

    @admin.display(description="MLflow run")
    def mlflow_run(self, job: TrainingJob):
        return mlflow_run_link(job.mlflow_run_id, job.version.mlflow_experiment_id if job.version else "")

    @admin.display(description="epoch")
    def progress(self, job: TrainingJob) -> str:
        return f"{job.epoch}/{job.total_epochs}"

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset):
        for job in queryset:
            call_service(request, partial(services.training_job_cancel, job=job, user=request.user),
                         success=f"{job}: cancel requested", error_level=messages.WARNING)

    @admin.action(description="Train the selected jobs' models again")
    def retrain(self, request, queryset):
        for model in {job.model for job in queryset}:
            call_service(request, partial(services.training_job_create, model=model, user=request.user,
                                          reason="admin retrain"),
                         success=_queued, error_level=messages.WARNING)


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "job_id", "kind", "from_status", "to_status", "actor", "message")
    list_filter = ("kind", "to_status")
    search_fields = ("job_id", "model_id", "message")


@admin.action(description="Train the selected models")
def train_models(modeladmin, request, queryset):
    for model in queryset:
        call_service(request, partial(services.training_job_create, model=model, user=request.user, reason="admin"),
                     success=_queued, error_level=messages.WARNING)
