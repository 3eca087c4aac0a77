"""Operator pages for models: the list and the create form (a model's page, with its jobs and
training curves, is in training.views)."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from access.roles import operator_required
from core.errors import Conflict, DomainError
from registry import selectors, services
from registry.bounds import SHAPE, TRAINING, BoundedFields
from registry.models import Architecture, TargetMode
from telemetry.sources import available_fields


class ModelForm(BoundedFields, forms.Form):
    """The numeric values come from registry.bounds (BoundedFields), as the admin's and the API's do."""

    name = forms.CharField(max_length=128, help_text="letters, digits, '_' or '-'")
    architecture = forms.ChoiceField(choices=Architecture.choices)
    input_fields = forms.MultipleChoiceField(choices=(), help_text="what the model reads")
    output_fields = forms.MultipleChoiceField(choices=(), help_text="what it forecasts")
    target_mode = forms.ChoiceField(choices=TargetMode.choices, initial=TargetMode.RESIDUAL)

    def __init__(self, *args, fields: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("input_fields", "output_fields"):
            choice = cast(forms.MultipleChoiceField, self.fields[name])
            choice.choices = [(f, f) for f in fields]
            choice.widget.attrs["size"] = 10
        self.order_fields(["name", "architecture", "input_fields", "output_fields", *SHAPE, "target_mode",
                           *TRAINING])


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
            model = services.model_config_create(
                name=form.cleaned_data["name"], architecture=form.cleaned_data["architecture"],
                input_fields=form.cleaned_data["input_fields"], output_fields=form.cleaned_data["output_fields"],
                target_mode=form.cleaned_data["target_mode"], user=request.user, **form.config_values(),
            )
        except DomainError as error:
            form.add_error(_field_of(error), error.message)
        else:
            messages.success(request, f"model {model.name} created")
            return redirect("model", model_id=model.id)
    return render(request, "registry/model_new.html", {"form": form})


def _field_of(error: DomainError) -> str | None:
    """A duplicate name goes next to the name; other service errors above the form."""
    return "name" if isinstance(error, Conflict) else None
