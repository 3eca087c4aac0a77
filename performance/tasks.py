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
    """Result hook of the demo models' first training: evaluate each field the model forecasts
    once the field's last job has ended, so a fresh installation shows elected models without
    anyone pressing a button. Not before: the first model to finish would be elected alone, and
    the field evaluated once per model."""
    from core.errors import DomainError
    from performance import selectors
    from performance.services import election
    from training.models import TrainingJob

    job = TrainingJob.objects.select_related("model").filter(id=task.args[0]).first() if task.args else None
    if job is None or job.is_active:
        return  # gone, or a duplicate task that found the job already taken
    for field in job.model.output_fields:
        if selectors.last_job_to_end(field) != job.id:
            continue  # another model of the field is still training, or ended later: its hook evaluates
        try:
            election.field_evaluate(field=field)
        except DomainError:
            pass  # an operator can evaluate by hand; nothing to recover here


def prune_history() -> dict:
    from performance.retention import history_prune

    pruned = history_prune()
    return {"scores": pruned.scores, "events": pruned.events, "alerts": pruned.alerts}
