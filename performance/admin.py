"""Scores, elections, events and monitors: read-only, filterable by field and model."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery

from access.feedback import call_service
from performance import degradation, selectors
from performance.models import FieldEvent, FieldMonitor, MonitorEvent, ScoreRecord
from performance.services import election
from registry.admin import ReadOnlyAdmin
from registry.models import FieldBest


@admin.register(ScoreRecord)
class ScoreRecordAdmin(ReadOnlyAdmin):
    list_display = ("measured_at", "field", "model_name", "version", "metric", "score", "persistence_score",
                    "skill_vs_persistence", "rank", "elected", "trigger", "samples")
    list_filter = ("field", "metric", "trigger", "elected", "model_name")
    search_fields = ("field", "model_name", "model_id")
    date_hierarchy = "measured_at"


@admin.register(FieldEvent)
class FieldEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "field", "kind", "actor", "message")
    list_filter = ("field", "kind")
    search_fields = ("field", "message")


@admin.register(FieldMonitor)
class FieldMonitorAdmin(ReadOnlyAdmin):
    """The loop's state per field, judged by the elected best's metric and baseline."""

    actions = ["evaluate", "monitor_now"]
    list_display = ("field", "state", "metric", "baseline", "threshold", "last_score", "last_status", "below_naive",
                    "last_check_at", "next_check_at", "consecutive_failures")
    list_filter = ("state", "below_naive")

    def get_queryset(self, request):
        best = FieldBest.objects.filter(field=OuterRef("field"))
        return super().get_queryset(request).annotate(best_metric=Subquery(best.values("metric")[:1]),
                                                      best_baseline=Subquery(best.values("baseline_score")[:1]))

    @staticmethod
    def _rule(monitor) -> degradation.Rule | None:
        return degradation.rule(monitor.best_metric, monitor.best_baseline) if monitor.best_metric else None

    @admin.display(description="metric")
    def metric(self, monitor):
        return monitor.best_metric

    @admin.display(description="baseline")
    def baseline(self, monitor):
        return monitor.best_baseline

    @admin.display(description="threshold")
    def threshold(self, monitor):
        rule = self._rule(monitor)
        return rule.threshold if rule else None

    @admin.display(description="last check")
    def last_status(self, monitor):
        rule = self._rule(monitor)
        return rule.status(monitor.last_score).label if rule else None

    @admin.action(description="Evaluate the selected fields (elect a best)")
    def evaluate(self, request, queryset):
        for monitor in queryset:
            field = monitor.field
            call_service(request, partial(election.field_evaluate, field=field,
                                          metric=selectors.election_metric(field), user=request.user),
                         success=f"{field} evaluated", about=field, error_level=messages.WARNING)

    @admin.action(description="Re-score the best model of the selected fields now")
    def monitor_now(self, request, queryset):
        def rescored(check: election.Check) -> str:
            return f"{check.record.field}: {check.record.metric} {check.record.score}"

        for monitor in queryset:
            call_service(request, partial(election.field_best_check, field=monitor.field, user=request.user),
                         success=rescored, about=monitor.field, error_level=messages.WARNING)


@admin.register(MonitorEvent)
class MonitorEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "field", "kind", "from_state", "to_state", "score", "baseline", "threshold", "reason")
    list_filter = ("field", "kind", "to_state")
    search_fields = ("field", "reason")
    date_hierarchy = "at"


@admin.action(description="Evaluate the fields the selected models forecast")
def evaluate_outputs(modeladmin, request, queryset):
    def scored(evaluation: election.Evaluation) -> str:
        best = evaluation.best.model.name if evaluation.best else "nobody"
        return f"{evaluation.field}: {len(evaluation.records)} scored, best {best}"

    for field in sorted({f for model in queryset for f in model.output_fields}):
        call_service(request, partial(election.field_evaluate, field=field, user=request.user), success=scored,
                     about=field, error_level=messages.WARNING)


@admin.action(description="Make the selected versions' models the best for their fields")
def set_best(modeladmin, request, queryset):
    for version in queryset.select_related("model"):
        for field in version.model.output_fields:
            call_service(request, partial(election.field_best_override, field=field, model_id=version.model_id,
                                          user=request.user),
                         success=f"{version.model} is the best for {field}", about=field, error_level=messages.WARNING)
