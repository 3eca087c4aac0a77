"""Admin screens for model configs (created and deleted through the services), their versions,
events and the MLflow mirror queue. Configs are immutable once created: make a new model."""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from django import forms
from django.contrib import admin

from access.admin import ReadOnlyAdmin
from access.feedback import call_service
from core.errors import DomainError
from registry import services
from registry.bounds import CONFIG, SHAPE, TRAINING, BoundedFields
from registry.models import FieldBest, MlflowOutbox, ModelConfig, ModelEvent, ModelField, ModelVersion
from telemetry.sources import available_fields

CREATE_FIELDS = ["name", "architecture", "input_fields", "output_fields", *SHAPE, "target_mode", *TRAINING]


class ModelConfigCreateForm(BoundedFields, forms.ModelForm):
    """The numeric values come from registry.bounds (BoundedFields), as the page's and the API's do;
    the service checks everything and writes the row."""

    input_fields = forms.MultipleChoiceField(choices=(), widget=forms.SelectMultiple(attrs={"size": 12}))
    output_fields = forms.MultipleChoiceField(choices=(), widget=forms.SelectMultiple(attrs={"size": 12}))

    class Meta:
        model = ModelConfig
        fields = ["name", "architecture", "target_mode", *CONFIG]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source_error = ""
        try:
            choices = [(f, f) for f in available_fields()]
        except DomainError as error:
            choices = []
            self.source_error = error.message
        self.input_fields_choice.choices = self.output_fields_choice.choices = choices

    @property
    def input_fields_choice(self) -> forms.MultipleChoiceField:
        return cast(forms.MultipleChoiceField, self.fields["input_fields"])

    @property
    def output_fields_choice(self) -> forms.MultipleChoiceField:
        return cast(forms.MultipleChoiceField, self.fields["output_fields"])

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "architecture": data["architecture"], "input_fields": data["input_fields"],
                "output_fields": data["output_fields"], "target_mode": data["target_mode"], **self.config_values()}

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.source_error:
            raise forms.ValidationError(self.source_error)
        if self.errors:
            return data
        values = self.values()
        training = {k: values.pop(k) for k in [*TRAINING, "target_mode"] if k in values}
        try:
            services.model_config_validate(**values, training=training)
        except DomainError as error:
            raise forms.ValidationError(error.message) from error
        return data

    def _post_clean(self):
        pass  # the service checked everything (clean) and writes the row (save_model)


class VersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    can_delete = False
    fields = ("version", "mlflow_version", "mlflow_run_id", "trained_until", "metrics", "unusable_reason", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ModelConfigAdmin(admin.ModelAdmin):
    """Registered by mlops_site.admin, which adds the actions of the apps above the registry."""

    list_display = ("name", "architecture", "outputs", "window_duration_seconds", "lookback_steps",
                    "forecast_steps", "is_training", "created_at")
    list_filter = ("architecture", "is_training", "window_duration_seconds")
    search_fields = ("name", "id", "fields__name")
    inlines = [VersionInline]
    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("fields")

    @admin.display(description="outputs")
    def outputs(self, obj: ModelConfig) -> str:
        return ", ".join(obj.output_fields)

    @admin.display(description="inputs")
    def inputs(self, obj: ModelConfig) -> str:
        return ", ".join(obj.input_fields)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ModelConfigCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return CREATE_FIELDS
        return ["id", "name", "architecture", "inputs", "outputs", *SHAPE, "target_mode", *TRAINING, "is_training",
                "training_locked_at", "created_by", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return  # configs are immutable
        created = services.model_config_create(**form.values(), user=request.user)
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db

    def save_related(self, request, form, formsets, change):
        pass  # fields were written by the service

    def get_deleted_objects(self, objs, request):
        # Versions, fields and elections go with their model through the service; the read-only
        # admins of those rows must not block it.
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj):
        call_service(request, partial(services.model_config_delete, model=obj, user=request.user))

    def delete_queryset(self, request, queryset):
        for model in queryset:
            self.delete_model(request, model)


class ModelVersionAdmin(admin.ModelAdmin):
    """Registered by mlops_site.admin (with the set-best action)."""

    list_display = ("model", "version", "mlflow_version", "mlflow_run", "trained_until", "unusable_reason",
                    "created_at")
    list_filter = ("model__architecture",)
    search_fields = ("model__name", "mlflow_run_id")
    list_select_related = ("model",)
    @admin.display(description="MLflow run")
    def mlflow_run(self, version: ModelVersion):
        return mlflow_run_link(version.mlflow_run_id, version.mlflow_experiment_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelEvent)
class ModelEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "model_name", "kind", "actor", "message")
    list_filter = ("kind",)
    search_fields = ("model_name", "model_id", "message")


@admin.register(MlflowOutbox)
class MlflowOutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "operation", "model_id", "attempts", "last_attempt_at", "last_error")
    list_filter = ("operation",)


@admin.register(FieldBest)
class FieldBestAdmin(ReadOnlyAdmin):
    """Elections are made by evaluations or the set-best action, never edited by hand."""

    list_display = ("field", "model", "version", "metric", "baseline_score", "elected_at", "elected_by")
    list_filter = ("metric", "elected_by")
    search_fields = ("field", "model__name")
    list_select_related = ("model", "version")


def mlflow_run_link(run_id: str, experiment_id: str = ""):
    """A link to the run in the MLflow UI (MLFLOW_UI_URL), or the bare id without a UI."""
    from django.conf import settings
    from django.utils.html import format_html

    if not run_id:
        return "–"
    if not settings.MLFLOW_UI_URL:
        return run_id
    return format_html('<a href="{}/#/experiments/{}/runs/{}" target="_blank" rel="noopener">{}</a>',
                       settings.MLFLOW_UI_URL, experiment_id or "0", run_id, run_id[:12])


@admin.register(ModelField)
class ModelFieldAdmin(ReadOnlyAdmin):
    list_display = ("model", "role", "position", "name")
    list_filter = ("role", "name")
    search_fields = ("model__name", "name")
    list_select_related = ("model",)
