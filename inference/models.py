"""Stored forecasts (the database store) and the scheduled runs that make them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class StoredForecast(models.Model):
    """One forecast value: a field of a cell, made at `origin` for the window starting at `target`.

    The database backend of `inference.forecast_store` (ClickHouse has its own table). No foreign
    key to the model: a forecast stays readable after its model is deleted, until retention."""

    field = models.CharField(max_length=128)
    cell = models.BigIntegerField()
    model_id = models.UUIDField()
    model_name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    origin = models.DateTimeField(help_text="start of the first forecast window (end of the last input window)")
    step = models.PositiveSmallIntegerField()
    target = models.DateTimeField(help_text="start of the forecast window")
    window_seconds = models.PositiveIntegerField()
    value = models.FloatField()
    lower = models.FloatField(null=True, blank=True)  # prediction intervals, filled later
    upper = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["field", "cell", "origin", "step"],
                                               name="stored_forecast_once_per_origin_step")]
        indexes = [models.Index(fields=["field", "target"], name="stored_forecast_field_target"),
                   models.Index(fields=["created_at"], name="stored_forecast_created")]

    def __str__(self) -> str:
        return f"{self.field} of cell {self.cell} at {self.target:%Y-%m-%d %H:%M:%S} (step {self.step})"


class ForecastRun(models.Model):
    """One scheduled forecast of every cell of a field at one window slot; the unique row is the
    claim, so two schedulers never run the same field and slot twice."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    field = models.CharField(max_length=128)
    origin = models.DateTimeField(help_text="the window slot this run forecasts from")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    cells = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    forecasts = models.PositiveIntegerField(default=0, help_text="cells forecast")
    skipped = models.PositiveIntegerField(default=0, help_text="cells that could not be forecast")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["field", "origin"], name="forecast_run_once_per_slot")]
        indexes = [models.Index(fields=["created_at"], name="forecast_run_created")]

    def __str__(self) -> str:
        return f"{self.field} at {self.origin:%Y-%m-%d %H:%M:%S}"


class ForecastChunk(models.Model):
    """A run's share for one worker task: claimed queued → running by a conditional update."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="chunk_rows")
    index = models.PositiveIntegerField()
    cells = models.JSONField(default=list)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    worker = models.CharField(max_length=200, blank=True)
    forecasts = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=list, help_text="[[cell, reason], …] of cells not forecast")
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="claims so far (a dead worker's counts)")
    queued_at = models.DateTimeField(default=timezone.now, help_text="last handed to the broker")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="forecast_chunk_once")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.run}"


class LatestForecast(models.Model):
    """Each cell's newest stored forecast of a field (upserted with every write, whichever store
    holds the history), so the Network page sorts and searches 10,000 cells with one indexed query."""

    field = models.CharField(max_length=128)
    cell = models.BigIntegerField()
    model_id = models.UUIDField()
    model_name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    origin = models.DateTimeField()
    window_seconds = models.PositiveIntegerField()
    values = models.JSONField(help_text="one value per step")
    worst = models.FloatField(help_text="the worst of the steps (lowest, or highest for latency-like fields)")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["field", "cell"], name="latest_forecast_one_per_cell")]
        indexes = [models.Index(fields=["field", "worst"], name="latest_forecast_field_worst")]

    def __str__(self) -> str:
        return f"{self.field} of cell {self.cell} from {self.origin:%Y-%m-%d %H:%M:%S}"
