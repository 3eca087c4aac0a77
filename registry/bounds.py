"""The one definition of a model config's numeric values: each one's range, kind and default.

The model's columns and database constraints (`registry.models`), the service's checks
(`registry.services`), the API schema (`registry.api`), the admin form (`registry.admin`) and
the page form (`registry.views`) are all built from `CONFIG`; none of them spells a bound of its
own (`tests/registry/test_bounds.py` holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from pydantic import Field


@dataclass(frozen=True)
class Bound:
    name: str
    low: int | float
    high: int | float
    kind: type[int] | type[float] = int
    # The column's default; without one the value is required. Training hyper-parameters
    # always have one: a caller may leave them out.
    default: int | float | None = None
    training: bool = False
    # What the forms suggest when the column has no default.
    suggested: int | float | None = None

    @property
    def integer(self) -> bool:
        return self.kind is int

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and not self.integer):
            return self.low <= value <= self.high
        return False

    @property
    def problem(self) -> str:
        return f"{self.name} must be {'an integer' if self.integer else 'a number'} from {self.low} to {self.high}"

    def form_field(self) -> forms.Field:
        """For the admin and page forms. A training value left blank takes the default."""
        initial = self.default if self.default is not None else self.suggested
        required = not self.training
        if self.integer:
            return forms.IntegerField(min_value=int(self.low), max_value=int(self.high), initial=initial,
                                      required=required)
        return forms.FloatField(min_value=self.low, max_value=self.high, initial=initial, required=required)

    def schema_field(self) -> Any:
        """For the API schema (pydantic): required, or optional with the default described."""
        if self.training:
            return Field(None, ge=self.low, le=self.high, description=f"default {self.default}")
        if self.default is not None:
            return Field(self.default, ge=self.low, le=self.high)
        return Field(ge=self.low, le=self.high)


def _table(*bounds: Bound) -> dict[str, Bound]:
    return {bound.name: bound for bound in bounds}


CONFIG: dict[str, Bound] = _table(
    # The shape of the samples and the network.
    Bound("window_duration_seconds", 1, 86_400, suggested=10),
    Bound("lookback_steps", 1, 512, suggested=12),
    Bound("forecast_steps", 1, 96, suggested=3),
    Bound("hidden_size", 1, 1024, default=32),
    # Training hyper-parameters: each model may set its own.
    Bound("epochs", 1, 1000, default=60, training=True),
    Bound("batch_size", 1, 4096, default=64, training=True),
    Bound("learning_rate", 1e-5, 1.0, float, default=1e-3, training=True),
    Bound("patience", 1, 100, default=8, training=True),
    Bound("validation_fraction", 0.05, 0.5, float, default=0.2, training=True),
    Bound("seed", 0, 2**31 - 1, default=42, training=True),
)
SHAPE = [name for name, bound in CONFIG.items() if not bound.training]
TRAINING = [name for name, bound in CONFIG.items() if bound.training]


class BoundedFields(forms.BaseForm):
    """A form mixin: one field for every value of `CONFIG`, built from its bound (the admin's
    and the page's create forms)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, bound in CONFIG.items():
            self.fields[name] = bound.form_field()

    def config_values(self) -> dict[str, Any]:
        """The cleaned shape values, and the training values given (blank ones take the default)."""
        data = self.cleaned_data
        return {name: data[name] for name in CONFIG if data.get(name) is not None}
