"""django-q2 entry points of the monitoring loop."""

from __future__ import annotations


def monitor_tick(*fields: str) -> list[str]:
    from performance import monitoring

    return [f"{o.field}: {o.action}" for o in monitoring.tick(only=list(fields) or None)]


def after_retraining_job(task) -> None:
    """Result hook of a retraining job: make the waiting field due now and tick it at once,
    so RETRAINING moves on as soon as its last job ends instead of at the next minute."""
    from django_q.tasks import async_task

    from performance import selectors
    from performance.services import monitors

    job_id = task.args[0] if task.args else None
    fields = selectors.fields_waiting_for(job_id)
    if fields:
        monitors.field_monitor_make_due(fields=fields)
        async_task("performance.tasks.monitor_tick", *fields, task_name="monitor-tick-after-retraining")


def evaluate_fields_after_training(task) -> None:
    """Result hook of the demo models' first training: evaluate the fields the model forecasts,
    so a fresh installation shows elected models without anyone pressing a button."""
    from core.errors import DomainError
    from performance.services import election
    from training.models import JobStatus, TrainingJob

    job = TrainingJob.objects.select_related("model").filter(id=task.args[0] if task.args else None).first()
    if job is None or job.status != JobStatus.COMPLETED:
        return
    for field in job.model.output_fields:
        try:
            election.field_evaluate(field=field)
        except DomainError:
            pass  # an operator can evaluate by hand; nothing to recover here


def prune_history() -> dict:
    from performance.retention import history_prune

    pruned = history_prune()
    return {"scores": pruned.scores, "events": pruned.events}
