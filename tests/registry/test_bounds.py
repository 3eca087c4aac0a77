"""Every numeric model-config value has one definition (registry.bounds.CONFIG): the API, the
admin's create form, the page's create form and the service accept its bounds and refuse one
step past them, all alike."""

from __future__ import annotations

import itertools

import pytest

from core.errors import Invalid
from registry import services
from registry.admin import ModelConfigCreateForm
from registry.bounds import CONFIG, Bound
from registry.views import ModelForm
from telemetry.sources import available_fields

pytestmark = pytest.mark.django_db
names = (f"bounded-{i}" for i in itertools.count())


def past(bound: Bound) -> tuple[int | float, int | float]:
    """One step below the lowest and above the highest accepted value."""
    if bound.integer:
        return bound.low - 1, bound.high + 1
    return bound.low / 2, bound.high * 1.5


def values(**overrides) -> dict:
    data = {"name": next(names), "architecture": "ann", "input_fields": ["sinr_mean"],
            "output_fields": ["sinr_mean"], "target_mode": "residual"}
    data.update({n: b.default if b.default is not None else b.suggested for n, b in CONFIG.items()})
    data.update(overrides)
    return data


def admin_form(**overrides) -> ModelConfigCreateForm:
    return ModelConfigCreateForm(data=values(**overrides))


def page_form(**overrides) -> ModelForm:
    return ModelForm(data=values(**overrides), fields=available_fields())


@pytest.mark.parametrize("name", list(CONFIG))
def test_bounds_are_accepted_and_one_step_past_them_refused_everywhere(name, api):
    bound = CONFIG[name]
    for accepted in (bound.low, bound.high):
        assert api.post("/models", values(**{name: accepted})).status_code == 201, (name, accepted)
        assert admin_form(**{name: accepted}).is_valid(), (name, accepted)
        assert page_form(**{name: accepted}).is_valid(), (name, accepted)
    for refused in past(bound):
        response = api.post("/models", values(**{name: refused}))
        assert response.status_code == 422 and name in response.content.decode(), (name, refused)
        assert name in admin_form(**{name: refused}).errors, (name, refused)
        assert name in page_form(**{name: refused}).errors, (name, refused)
        with pytest.raises(Invalid, match=name):
            services.model_config_create(**values(**{name: refused}))


def test_forms_and_schema_carry_every_value_with_its_bounds(api):
    schema = api.client.get("/v1/openapi.json").json()["components"]["schemas"]["ModelIn"]["properties"]
    for form in (admin_form(), page_form()):
        for name, bound in CONFIG.items():
            field = form.fields[name]
            assert (field.min_value, field.max_value) == (bound.low, bound.high), name
            assert field.required is not bound.training, name
    for name, bound in CONFIG.items():
        ranges = [schema[name]] + schema[name].get("anyOf", [])
        assert any((r.get("minimum"), r.get("maximum")) == (bound.low, bound.high) for r in ranges), name


def test_training_values_left_blank_take_the_default(make_model):
    form = page_form(epochs="", learning_rate="")
    assert form.is_valid(), form.errors
    values = form.config_values()
    assert "epochs" not in values and "learning_rate" not in values
    model = make_model(**{k: v for k, v in values.items() if k != "epochs"})
    assert model.learning_rate == CONFIG["learning_rate"].default
