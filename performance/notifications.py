"""The alerts of the performance app: what each event says, which models and scores it carries
and which pages it links to. Called by the services inside their transactions, so an event
exists exactly when the change it reports does (`alerts.services.alert_emit`)."""

from __future__ import annotations

from django.urls import reverse

from alerts.models import EventType
from alerts.services import alert_emit
from performance.degradation import Rule
from registry.models import FieldBest, ModelConfig, ModelVersion
from training.models import TrainingJob


def _model(model: ModelConfig, version: ModelVersion | None, role: str) -> dict:
    return {"id": str(model.id), "name": model.name, "version": version.version if version else None, "role": role}


def _links(field: str, **more: str) -> dict[str, str]:
    return {"field": reverse("field", args=[field]), "status": f"/v1/performance/{field}/status", **more}


def _jobs(job_ids) -> list[TrainingJob]:
    return list(TrainingJob.objects.filter(id__in=list(job_ids)).select_related("model", "version"))


def field_degraded(*, best: FieldBest, score: float, rule: Rule, job_ids: list[str]) -> None:
    jobs = _jobs(job_ids)
    alert_emit(
        type=EventType.FIELD_DEGRADED, fields=[best.field],
        text=(f"{best.field} degraded: {best.model.name} {rule.metric} {score:.4g} is past the threshold "
              f"{rule.threshold:.4g} (baseline {rule.baseline:.4g} × {rule.factor:g}); retraining {len(jobs)} models"),
        models=[_model(best.model, best.version, "best")] + [_model(j.model, None, "retraining") for j in jobs],
        scores={"metric": rule.metric, "score": score, "baseline": rule.baseline, "threshold": rule.threshold,
                "factor": rule.factor, "higher_is_better": rule.higher_is_better},
        data={"from_state": "monitoring", "to_state": "retraining",
              "jobs": [{"id": str(j.id), "model_id": str(j.model_id), "model_name": j.model.name} for j in jobs]},
        links=_links(best.field, jobs=reverse("jobs")),
    )


def retraining_ended(*, field: str, job_ids: list[str], statuses: dict[str, str], to_state: str) -> None:
    found = {str(j.id): j for j in _jobs(job_ids)}
    outcomes = []
    for job_id in job_ids:
        job = found.get(job_id)
        outcomes.append({"id": job_id, "status": statuses.get(job_id, "deleted"),
                         "model_id": str(job.model_id) if job else None, "model_name": job.model.name if job else None,
                         "version": job.version.version if job and job.version else None,
                         "error": job.error_message[:500] if job else ""})
    completed = sum(o["status"] == "completed" for o in outcomes)
    verdict = "evaluating the models now" if completed else "keeping the current best"
    alert_emit(
        type=EventType.RETRAINING_ENDED, fields=[field],
        text=f"retraining of {field} ended: {completed} of {len(outcomes)} jobs completed; {verdict}",
        models=[_model(j.model, j.version, "retrained") for j in found.values() if j.version],
        data={"from_state": "retraining", "to_state": to_state, "completed": completed, "jobs": outcomes},
        links=_links(field, jobs=reverse("jobs")),
    )


def best_elected(*, field: str, model: ModelConfig, version: ModelVersion, metric: str, score: float,
                 previous: FieldBest | None, elected_by: str, trigger: str) -> None:
    old = f"{previous.model.name} v{previous.version.version}" if previous else "none"
    models = [_model(model, version, "best")]
    if previous:
        models.append(_model(previous.model, previous.version, "previous"))
    alert_emit(
        type=EventType.BEST_ELECTED, fields=[field],
        text=f"new best for {field}: {old} → {model.name} v{version.version} ({metric} {score:.4g}), by {elected_by}",
        models=models,
        scores={"metric": metric, "score": score, "previous_baseline": previous.baseline_score if previous else None,
                "previous_metric": previous.metric if previous else None},
        data={"elected_by": elected_by, "trigger": trigger},
        links=_links(field, model=reverse("model", args=[model.id])),
    )


def below_naive_changed(*, field: str, below: bool, model_id, model_name: str, version: int | None, metric: str,
                        score: float, naive: str, naive_score: float) -> None:
    alert_emit(
        type=EventType.BELOW_NAIVE_CHANGED, fields=[field],
        text=(f"{field}: the best, {model_name}, is now {'worse' if below else 'no worse'} than {naive} "
              f"({metric} {score:.4g} vs {naive_score:.4g})"),
        models=[{"id": str(model_id), "name": model_name, "version": version, "role": "best"}],
        scores={"metric": metric, "score": score, "naive": naive, "naive_score": naive_score},
        data={"below_naive": below},
        links=_links(field, model=reverse("model", args=[model_id])),
    )
