"""Score history, field events and each field's monitor state."""

from __future__ import annotations

from django.db import models

from core.events import Event


class Trigger(models.TextChoices):
    EVALUATE = "evaluate", "manual evaluation"
    MONITOR = "monitor", "manual monitor check"
    AUTO_MONITOR = "auto_monitor", "monitoring loop check"
    AUTO_EVALUATE = "auto_evaluate", "monitoring loop evaluation after retraining"
    SET_BEST = "set_best", "scored for a manual set-best"


class ScoreRecord(models.Model):
    """One model's score on one field at one moment (append-only; the field's history).

    Every record carries the naive baselines scored on the same samples, so a score can be read
    as "better or worse than doing nothing".
    """

    evaluation = models.UUIDField(db_index=True, help_text="rows written by one evaluation share it")
    field = models.CharField(max_length=128)
    model_id = models.UUIDField(db_index=True)
    model_name = models.CharField(max_length=128)
    version = models.PositiveIntegerField(null=True, blank=True)
    metric = models.CharField(max_length=8)
    score = models.FloatField(null=True, blank=True, help_text="null: the model could not be scored")
    persistence_score = models.FloatField(null=True, blank=True)
    lookback_mean_score = models.FloatField(null=True, blank=True)
    seasonal_naive_score = models.FloatField(null=True, blank=True)
    skill_vs_persistence = models.FloatField(null=True, blank=True, help_text="1 − error / persistence error")
    samples = models.PositiveIntegerField(default=0)
    cells = models.PositiveIntegerField(default=0)
    rank = models.PositiveIntegerField(null=True, blank=True)
    elected = models.BooleanField(default=False, help_text="this row made (or kept) the model the field's best")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    note = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="every metric, for the model and each baseline")
    # The model's prediction interval at the nominal coverage (INTERVAL_COVERAGE) on the same samples.
    interval_nominal = models.FloatField(null=True, blank=True, help_text="coverage the interval aims at")
    interval_coverage = models.FloatField(null=True, blank=True, help_text="share of truths inside the interval")
    interval_mean_width = models.FloatField(null=True, blank=True, help_text="upper − lower, mean, in KPI units")
    measured_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["measured_at", "id"]
        indexes = [models.Index(fields=["field", "measured_at"])]

    def __str__(self) -> str:
        return f"{self.field} {self.model_name} v{self.version} {self.metric}={self.score}"


class FieldEvent(Event):
    """Audit row for a field: evaluations, elections, overrides, monitor transitions."""

    field = models.CharField(max_length=128, db_index=True)


class MonitorState(models.TextChoices):
    MONITORING = "monitoring"
    RETRAINING = "retraining"
    EVALUATING = "evaluating"


class FieldMonitor(models.Model):
    """The monitoring loop's persisted state for one field (created when a best is elected).

    The metric and baseline it judges by are the elected best's (`registry.FieldBest`), never
    copied here. Written only by `performance/services/monitors.py`.
    """

    field = models.CharField(max_length=128, unique=True)
    state = models.CharField(max_length=16, choices=MonitorState.choices, default=MonitorState.MONITORING)
    waiting_job_ids = models.JSONField(default=list, blank=True, help_text="jobs RETRAINING waits for")
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_score = models.FloatField(null=True, blank=True)
    next_check_at = models.DateTimeField(db_index=True, help_text="the next slot of its interval grid")
    below_naive = models.BooleanField(
        default=False, help_text="the best learned model scores worse than the best naive forecaster"
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="a tick is handling it until then")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["field"]

    def __str__(self) -> str:
        return f"{self.field}: {self.state}"


class MonitorEvent(models.Model):
    """Append-only: every check and every transition of a field's monitoring loop."""

    class Kind(models.TextChoices):
        CHECK = "check"
        TRANSITION = "transition"
        NO_DATA = "no_data"
        ERROR = "error"
        REBASELINE = "rebaseline"

    at = models.DateTimeField(db_index=True)
    field = models.CharField(max_length=128, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    score = models.FloatField(null=True, blank=True)
    baseline = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    reason = models.TextField(blank=True)
    job_ids = models.JSONField(default=list, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text="the worker that handled the tick")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.field} {self.kind} {self.from_state}->{self.to_state}"


class CellScore(models.Model):
    """One model's error sums on one cell in one evaluation, next to its naive forecasters'
    (performance/per_cell.py): compact (one row per record and cell, never per sample) and
    additive, so any set of cells' metrics, and the record's totals, are re-derived exactly."""

    # No index of its own: the (record, cell) unique constraint's index serves lookups by record.
    record = models.ForeignKey(ScoreRecord, on_delete=models.CASCADE, related_name="cell_scores", db_index=False)
    cell = models.IntegerField()
    samples = models.PositiveIntegerField()
    points = models.PositiveIntegerField(help_text="samples × forecast steps")
    mape_points = models.PositiveIntegerField(help_text="points whose truth is not zero")
    truth_sum = models.FloatField()
    truth_sq_sum = models.FloatField()
    model_sse = models.FloatField()
    model_sae = models.FloatField()
    model_sape = models.FloatField()
    persistence_sse = models.FloatField()
    persistence_sae = models.FloatField()
    persistence_sape = models.FloatField()
    lookback_mean_sse = models.FloatField(null=True)
    lookback_mean_sae = models.FloatField(null=True)
    lookback_mean_sape = models.FloatField(null=True)

    SUMS = ("samples", "points", "mape_points", "truth_sum", "truth_sq_sum", "model_sse", "model_sae", "model_sape",
            "persistence_sse", "persistence_sae", "persistence_sape", "lookback_mean_sse", "lookback_mean_sae",
            "lookback_mean_sape")

    class Meta:
        ordering = ["record", "cell"]
        constraints = [models.UniqueConstraint(fields=["record", "cell"], name="cell_score_once_per_record")]

    def __str__(self) -> str:
        return f"record {self.record_id} cell {self.cell}"
