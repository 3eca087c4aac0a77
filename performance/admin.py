"""Scores, elections, events and monitors: read-only, filterable by field and model."""

from __future__ import annotations

from django.contrib import admin

from performance.models import FieldEvent, FieldMonitor, MonitorEvent, ScoreRecord
from registry.admin import ReadOnlyAdmin


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
    list_display = ("field", "state", "metric", "baseline", "last_score", "below_naive", "last_check_at",
                    "next_check_at", "consecutive_failures")
    list_filter = ("state", "metric", "below_naive")


@admin.register(MonitorEvent)
class MonitorEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "field", "kind", "from_state", "to_state", "score", "baseline", "threshold", "reason")
    list_filter = ("field", "kind", "to_state")
    search_fields = ("field", "reason")
    date_hierarchy = "at"
