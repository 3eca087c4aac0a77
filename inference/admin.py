"""The forecast schedule's runs and chunks: read-only, to see what each slot did and why cells were skipped."""

from __future__ import annotations

from django.contrib import admin

from access.admin import ReadOnlyAdmin
from inference.models import ForecastChunk, ForecastRun


class ForecastChunkInline(admin.TabularInline):
    model = ForecastChunk
    fields = ("index", "status", "worker", "forecasts", "error", "claimed_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ForecastRun)
class ForecastRunAdmin(ReadOnlyAdmin):
    list_display = ("origin", "field", "status", "cells", "chunks", "forecasts", "skipped", "created_at",
                    "finished_at")
    list_filter = ("field", "status")
    date_hierarchy = "origin"
    inlines = [ForecastChunkInline]


@admin.register(ForecastChunk)
class ForecastChunkAdmin(ReadOnlyAdmin):
    list_display = ("run", "index", "status", "worker", "forecasts", "claimed_at", "finished_at")
    list_filter = ("status",)
