"""The one fitting path (samples → bundle) and the architecture table every caller reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.predict import LoadedModel
from registry.models import Architecture
from telemetry.frame import WindowFrame
from training.architectures import ARCHITECTURES, spec
from training.fitting import FitConfig, NotEnoughData, fit_model
from training.sequences import build_samples


def samples(n: int = 400, seed: int = 0):
    """A noisy sine of one KPI: learnable, so a fit moves away from its initial weights."""
    rng = np.random.default_rng(seed)
    values = (np.sin(np.arange(n) / 5) * 3 + rng.normal(0, 0.2, n))[:, None]
    start = np.arange(n) * 10
    frame = WindowFrame.build(cell_index=1, window_seconds=10, fields=("k",), start=start, end=start + 10,
                              values=values, sample_count=np.ones(n, int))
    return build_samples(frame, inputs=["k"], outputs=["k"], lookback=6, forecast=2)


def config(architecture: str, **overrides) -> FitConfig:
    spec_ = dict(name="fit-test", architecture=architecture, input_fields=["k"], output_fields=["k"],
                 window_seconds=10, lookback=6, forecast=2, hidden=8, epochs=3, seed=7)
    return FitConfig(**{**spec_, **overrides})


@pytest.mark.parametrize("architecture", ["ann", "lstm", "linear_lstm"])
def test_a_fit_depends_on_its_seed_not_on_what_ran_before(architecture):
    """A worker runs many jobs in one process: the initial weights must come from the model's seed."""
    data = samples()
    first = fit_model(config(architecture), data)
    torch.rand(1000)  # another job consumed random numbers in between
    second = fit_model(config(architecture), data)
    for name, tensor in first.bundle.state_dict.items():
        assert torch.equal(tensor, second.bundle.state_dict[name]), name
    other_seed = fit_model(config(architecture, seed=8), data)
    assert not all(torch.equal(t, other_seed.bundle.state_dict[k]) for k, t in first.bundle.state_dict.items())


def test_the_bundle_forecasts_what_the_fitted_network_forecasts():
    data = samples()
    fitted = fit_model(config("lstm", target_mode="residual"), data)
    # One cell, forecast 2: one training sample purged at the validation boundary.
    assert fitted.bundle.relative_inputs and fitted.samples_train + fitted.samples_val == len(data) - 1
    scaled = fitted.bundle.feature_scaler.transform(data.x[:5])
    with torch.no_grad():
        direct = fitted.bundle.target_scaler.inverse(fitted.network.eval()(torch.from_numpy(scaled)).numpy())
    np.testing.assert_allclose(LoadedModel.from_bundle(fitted.bundle).predict(data.x[:5], data.last[:5]),
                               direct + data.last[:5, None, :], rtol=1e-5, atol=1e-5)


def test_closed_form_architectures_run_one_epoch_whatever_is_configured():
    fitted = fit_model(config("linear", epochs=50), samples())
    assert len(fitted.result.history) == 1 and not fitted.bundle.relative_inputs
    assert spec("linear").epochs(50) == 1 and spec("ann").epochs(50) == 50


def test_linear_lstm_forecasts_the_mean_of_its_ridge_and_its_lstm():
    data = samples()
    fitted = fit_model(config("linear_lstm"), data)
    network = fitted.network.eval()
    assert fitted.bundle.relative_inputs and len(fitted.result.history) >= 1
    x = torch.from_numpy(fitted.bundle.feature_scaler.transform(data.x[:7]))
    with torch.no_grad():
        torch.testing.assert_close(network(x), (network.ridge(x) + network.lstm(x)) / 2)
        ridge = fit_model(config("linear"), data).network.eval()
        torch.testing.assert_close(network.ridge(x), ridge(x))  # the same closed-form fit as `linear`
    loaded = LoadedModel.from_bundle(fitted.bundle)
    np.testing.assert_allclose(loaded.predict(data.x[:7], data.last[:7]),
                               fitted.bundle.target_scaler.inverse(network(x).detach().numpy()) + data.last[:7, None],
                               rtol=1e-5, atol=1e-5)


def test_naive_architectures_fit_nothing_and_forecast_persistence_and_the_lookback_mean():
    data = samples()
    for architecture in ("persistence", "lookback_mean"):
        fitted = fit_model(config(architecture, epochs=50, target_mode="level"), data)
        assert len(fitted.result.history) == 1 and fitted.bundle.target_mode == "residual"
        forecast = LoadedModel.from_bundle(fitted.bundle).predict(data.x, data.last)
        expected = data.last if architecture == "persistence" else data.x[:, :, 0].mean(axis=1, keepdims=True)
        np.testing.assert_allclose(forecast, np.repeat(expected[:, None, :], 2, axis=1), rtol=1e-5, atol=1e-5)


def test_too_few_samples_is_not_enough_data():
    with pytest.raises(NotEnoughData, match="only 2 samples for fit-test"):
        fit_model(config("ann"), samples().take(np.arange(2)))


def test_every_registry_architecture_has_one_row():
    assert set(ARCHITECTURES) == set(Architecture.values)
    assert {name for name, row in ARCHITECTURES.items() if row.reads_relative_inputs("residual")} == {"ann", "lstm",
                                                                                                "linear_lstm"}
    assert not any(row.reads_relative_inputs("level") for row in ARCHITECTURES.values())


def test_the_api_offers_and_describes_exactly_the_registry_architectures(api):
    schema = api.client.get("/v1/openapi.json").json()["components"]["schemas"]["ModelIn"]["properties"]
    offered = schema["architecture"]
    assert set(offered["enum"]) == set(Architecture.values)
    assert all(label in offered["description"] for label in Architecture.labels)
