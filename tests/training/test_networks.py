"""The networks and their bundles: shapes, relative inputs, and bundles that load back exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from training.architectures import build_network, uses_relative_inputs
from training.bundle import Bundle
from training.sequences import Scaler

SHAPE = dict(lookback=6, n_inputs=3, forecast=2, n_outputs=2, hidden=8)


@pytest.mark.parametrize("architecture", ["ann", "lstm", "linear", "linear_lstm", "persistence", "lookback_mean"])
def test_every_architecture_forecasts_every_step_and_output(architecture):
    out = build_network(architecture, **SHAPE)(torch.randn(5, 6, 3))
    assert out.shape == (5, 2, 2)


@pytest.mark.parametrize("architecture", ["ann", "lstm"])
def test_relative_inputs_ignore_the_level_of_a_cell(architecture):
    """Two cells with the same dynamics at different levels get the same residual forecast."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 3)
    relative = build_network(architecture, **SHAPE, relative_inputs=True).eval()
    torch.manual_seed(0)
    absolute = build_network(architecture, **SHAPE).eval()
    with torch.no_grad():
        assert torch.allclose(relative(x), relative(x + 7.5), atol=1e-6)
        assert not torch.allclose(absolute(x), absolute(x + 7.5), atol=1e-3)


def test_which_models_read_relative_inputs():
    assert uses_relative_inputs("ann", "residual") and uses_relative_inputs("lstm", "residual")
    assert not uses_relative_inputs("linear", "residual") and not uses_relative_inputs("ann", "level")
    with pytest.raises(TypeError):
        build_network("linear", **SHAPE, relative_inputs=True)


def _bundle(relative: bool) -> Bundle:
    network = build_network("ann", **SHAPE, relative_inputs=relative)
    return Bundle(architecture="ann", input_fields=["a", "b", "c"], output_fields=["a", "b"], window_seconds=10,
                  lookback=6, forecast=2, hidden=8, target_mode="residual",
                  feature_scaler=Scaler(np.zeros(3, np.float32), np.ones(3, np.float32)),
                  target_scaler=Scaler(np.zeros(2, np.float32), np.ones(2, np.float32)),
                  state_dict=network.state_dict(), relative_inputs=relative)


def _round_trip(data: dict) -> Bundle:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return Bundle.from_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))


def test_a_bundle_loads_back_with_the_same_forecasts():
    bundle = _bundle(relative=True)
    loaded = _round_trip(bundle.to_dict())
    assert loaded.relative_inputs is True
    x = torch.randn(3, 6, 3)
    with torch.no_grad():
        assert torch.equal(loaded.network()(x), bundle.network()(x))


def test_a_format_1_bundle_still_loads_with_absolute_inputs():
    data = _bundle(relative=False).to_dict()
    data["format"] = 1
    del data["relative_inputs"]
    assert _round_trip(data).relative_inputs is False
    data["format"] = 99
    with pytest.raises(ValueError, match="unknown bundle format 99"):
        _round_trip(data)
