"""Operator pages for models: the list and the create form (a model's page, with its jobs and
training curves, is in training.views)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from access.roles import operator_required
from core.errors import Conflict, DomainError
from registry import selectors, services
from registry.models import BOUNDS, TRAINING_BOUNDS, Architecture, TargetMode
from telemetry.sources import available_fields


class ModelForm(forms.Form):
    name = forms.CharField(max_length=128, help_text="letters, digits, '_' or '-'")
    architecture = forms.ChoiceField(choices=Architecture.choices)
    input_fields = forms.MultipleChoiceField(choices=(), help_text="what the model reads")
    output_fields = forms.MultipleChoiceField(choices=(), help_text="what it forecasts")
    window_duration_seconds = forms.IntegerField(min_value=BOUNDS["window_duration_seconds"][0],
                                                 max_value=BOUNDS["window_duration_seconds"][1], initial=10)
    lookback_steps = forms.IntegerField(min_value=1, max_value=BOUNDS["lookback_steps"][1], initial=12)
    forecast_steps = forms.IntegerField(min_value=1, max_value=BOUNDS["forecast_steps"][1], initial=3)
    hidden_size = forms.IntegerField(min_value=1, max_value=BOUNDS["hidden_size"][1], initial=32)
    target_mode = forms.ChoiceField(choices=TargetMode.choices, initial=TargetMode.RESIDUAL)
    epochs = forms.IntegerField(
        min_value=1, max_value=TRAINING_BOUNDS["epochs"][1], initial=TRAINING_BOUNDS["epochs"][2]
    )

    def __init__(self, *args, fields: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("input_fields", "output_fields"):
            self.fields[name].choices = [(f, f) for f in fields]
            self.fields[name].widget.attrs["size"] = 10


@login_required
def model_list(request):
    architecture = request.GET.get("architecture") or None
    output_field = request.GET.get("output_field") or None
    models = selectors.model_list(output_field=output_field)
    if architecture:
        models = models.filter(architecture=architecture)
    query = request.GET.get("q", "").strip()
    if query:
        models = models.filter(name__icontains=query)
    return render(request, "registry/models.html", {
        "models": models[:500], "architectures": Architecture.choices,
        "outputs": sorted(selectors.fields_with_models()), "filters": request.GET,
    })


@operator_required
def model_new(request):
    try:
        fields = available_fields()
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("models")
    form = ModelForm(request.POST or None, fields=fields)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.model_config_create(**form.cleaned_data, user=request.user)
        except DomainError as error:
            form.add_error(_field_of(error), error.message)
        else:
            messages.success(request, f"model {model.name} created")
            return redirect("model", model_id=model.id)
    return render(request, "registry/model_new.html", {"form": form})


def _field_of(error: DomainError) -> str | None:
    """A duplicate name goes next to the name; other service errors above the form."""
    return "name" if isinstance(error, Conflict) else None
