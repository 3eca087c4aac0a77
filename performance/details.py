"""Scores and best-for fields per model for `GET /v1/models?include_details=true`."""

from __future__ import annotations

from performance.selectors import latest_scores_by_model
from registry.models import FieldBest


def performance_details(models) -> dict:
    ids = [m.id for m in models]
    details: dict = {model_id: {"scores": {}, "best_for": []} for model_id in ids}
    for record in latest_scores_by_model(ids):
        details[record.model_id]["scores"][record.field] = {
            "metric": record.metric, "score": record.score, "skill_vs_persistence": record.skill_vs_persistence,
            "version": record.version, "measured_at": record.measured_at.isoformat(),
        }
    for field, model_id in FieldBest.objects.filter(model_id__in=ids).values_list("field", "model_id"):
        details[model_id]["best_for"].append(field)
    return details
