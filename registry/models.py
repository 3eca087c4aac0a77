"""Model configs, their trained versions, their audit events and the MLflow mirror outbox."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from core.events import Event
from registry.bounds import CONFIG, SHAPE, TRAINING

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
# Views of registry.bounds.CONFIG, the one definition: (min, max) of the shape values and
# (min, max, default) of the training hyper-parameters.
BOUNDS = {name: (CONFIG[name].low, CONFIG[name].high) for name in SHAPE}
TRAINING_BOUNDS = {name: (CONFIG[name].low, CONFIG[name].high, CONFIG[name].default) for name in TRAINING}
MAX_INPUT_FIELDS = 64
MAX_OUTPUT_FIELDS = 16


def _validators(name: str) -> dict:
    bound = CONFIG[name]
    extra = {} if bound.default is None else {"default": bound.default}
    return {"validators": [MinValueValidator(bound.low), MaxValueValidator(bound.high)], **extra}


def _bounded(name: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(**_validators(name))


def _bounded_real(name: str) -> models.FloatField:
    return models.FloatField(**_validators(name))


def _bounds_constraints() -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(condition=Q(**{f"{b.name}__gte": b.low, f"{b.name}__lte": b.high}),
                               name=f"model_{b.name}_bounds")
        for b in CONFIG.values()
    ]


class Architecture(models.TextChoices):
    ANN = "ann", "ANN (MLP over the flattened lookback)"
    LSTM = "lstm", "LSTM (stacked, linear head)"
    LINEAR = "linear", "linear (closed-form ridge over the flattened lookback)"


class TargetMode(models.TextChoices):
    RESIDUAL = "residual", "change from the last observed value"
    LEVEL = "level", "the value itself"


class ModelConfig(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128, unique=True, validators=[RegexValidator(NAME_PATTERN)])
    architecture = models.CharField(max_length=16, choices=Architecture.choices)
    window_duration_seconds = _bounded("window_duration_seconds")
    lookback_steps = _bounded("lookback_steps")
    forecast_steps = _bounded("forecast_steps")
    hidden_size = _bounded("hidden_size")
    # Networks predict each output's change from its last observed value by default: on the real
    # 5G data, predicting the level lost 21-132 % to persistence (DESIGN.md, known traps).
    target_mode = models.CharField(max_length=16, choices=TargetMode.choices, default=TargetMode.RESIDUAL)
    epochs = _bounded("epochs")
    batch_size = _bounded("batch_size")
    learning_rate = _bounded_real("learning_rate")
    patience = _bounded("patience")
    validation_fraction = _bounded_real("validation_fraction")
    seed = _bounded("seed")
    # The training lock: taken by a conditional update when a job is created, released when it ends.
    is_training = models.BooleanField(default=False)
    training_locked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not a column: the latest version, set by registry.selectors.models_for_field.
    latest: ModelVersion | None

    class Meta:
        ordering = ["created_at", "id"]
        constraints = _bounds_constraints()

    def __str__(self) -> str:
        return self.name

    def _field_names(self, role: str) -> list[str]:
        # Reads the prefetched rows when the selector prefetched them (no query per model).
        return [f.name for f in sorted(self.fields.all(), key=lambda f: f.position) if f.role == role]

    @property
    def training_params(self) -> dict:
        return {name: getattr(self, name) for name in TRAINING_BOUNDS}

    @property
    def input_fields(self) -> list[str]:
        return self._field_names(ModelField.Role.INPUT)

    @property
    def output_fields(self) -> list[str]:
        return self._field_names(ModelField.Role.OUTPUT)


class ModelField(models.Model):
    """One input or output KPI field of a model, in order (a table so lists can be filtered)."""

    class Role(models.TextChoices):
        INPUT = "input"
        OUTPUT = "output"

    model = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="fields")
    role = models.CharField(max_length=8, choices=Role.choices)
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=128)

    class Meta:
        ordering = ["model", "role", "position"]
        constraints = [
            models.UniqueConstraint(fields=["model", "role", "name"], name="model_field_once_per_role"),
            models.UniqueConstraint(fields=["model", "role", "position"], name="model_field_position_unique"),
        ]
        indexes = [models.Index(fields=["role", "name"])]

    def __str__(self) -> str:
        return f"{self.model_id} {self.role} {self.name}"


class ModelVersion(models.Model):
    """A trained version of a model: where its weight bundle lives and what it was trained on."""

    model = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    bundle_path = models.CharField(max_length=512, help_text="key in the 'models' storage")
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_version = models.CharField(max_length=32, blank=True)
    trained_from = models.DateTimeField(null=True, blank=True)
    trained_until = models.DateTimeField(null=True, blank=True, help_text="end of the data this version saw")
    metrics = models.JSONField(default=dict, blank=True)
    data_summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once its bundle turned out missing or unreadable: the version is never served or scored again.
    unusable_reason = models.CharField(max_length=500, blank=True)
    unusable_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "version"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")]

    def __str__(self) -> str:
        return f"{self.model} v{self.version}"

    @property
    def mlflow_pending(self) -> bool:
        """Its MLflow run and registered version are still in the outbox (filled when it catches up)."""
        return not self.mlflow_run_id


class ModelEvent(Event):
    """Audit row for a model; keeps the id and name so it outlives the model."""

    model_id = models.UUIDField(db_index=True)
    model_name = models.CharField(max_length=128)


class MlflowOutbox(models.Model):
    """A pending write to the MLflow mirror, applied in id order by `registry.mirror.flush`.

    The database is the source of truth: services write here inside their transaction, so
    MLflow being down never fails or half-applies a change; the flush catches MLflow up.
    """

    class Operation(models.TextChoices):
        CREATE_MODEL = "create_model"
        DELETE_MODEL = "delete_model"
        SET_MODEL_TAGS = "set_model_tags"
        DELETE_MODEL_TAGS = "delete_model_tags"
        SET_VERSION_TAGS = "set_version_tags"
        # A completed job's run, logged model and registered version (applied by training).
        LOG_TRAINING_RUN = "log_training_run"

    operation = models.CharField(max_length=32, choices=Operation.choices)
    model_id = models.UUIDField(db_index=True, help_text="the model; its MLflow registered model has this name")
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.model_id}"

    @property
    def registered_model(self) -> str:
        return str(self.model_id)


class FieldBest(models.Model):
    """The model (and version) elected to serve forecasts of one output field.

    Elections happen in `performance`; the result lives here, next to the models it points at,
    so inference can resolve "the best model for a field" without depending on performance.
    The unique field makes "one best per field" a database rule.
    """

    field = models.CharField(max_length=128, unique=True)
    model = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="best_for")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=8)
    baseline_score = models.FloatField(help_text="the score at election: the degradation reference")
    elected_at = models.DateTimeField()
    elected_by = models.CharField(max_length=150, help_text="'evaluation', 'monitor' or the user who set it")

    class Meta:
        ordering = ["field"]

    def __str__(self) -> str:
        return f"{self.field}: {self.model}"
