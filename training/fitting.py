"""From samples to a `Bundle`: the one way a model is fitted. The worker (`training.pipeline`),
the test factories and `bench/accuracy.py` all call `fit_model`.

1. Split by time within each cell: the latest `validation_fraction` of every cell's samples (by
   origin) validates (`sequences.time_split`).
2. Fit the feature and target scalers on the training split only; targets are residual (each
   output's change from its last observed value) or levels, as configured.
3. Seed torch, then build the architecture's network: the initial weights depend on the seed
   alone, not on whatever ran before in the process.
4. Run the architecture's trainer (Adam with early stopping, or closed-form ridge); `on_epoch`
   sees every epoch and stops the fit by returning False.
5. Calibrate prediction intervals on the validation split (`training.conformal`): the
   absolute residuals of the best weights' forecasts, and of the naive forecasters, in KPI
   units. The validation split doubles as the calibration split: it is every cell's latest data
   (the closest to what is served) and the only split the weights were not fitted on; early stopping
   choosing one epoch by its loss biases the residuals negligibly (measured: docs/accuracy.md).
6. Pack the best weights, the scalers, the intervals and the config into a `Bundle`.

A naive architecture (persistence, lookback mean) goes the same way with nothing fitted: its
scalers are the identity and its targets residual whatever the config says, so its network
answers a change in KPI units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from core.errors import DomainError
from registry.models import TRAINING_BOUNDS
from training import conformal
from training.architectures import build_network, spec
from training.bundle import Bundle
from training.sequences import SampleSet, Scaler, targets, time_split
from training.trainer import FitResult

if TYPE_CHECKING:
    from registry.models import ModelConfig


class NotEnoughData(DomainError):
    pass


def _default(name: str):
    return TRAINING_BOUNDS[name][2]


@dataclass(frozen=True)
class FitConfig:
    """What a fit reads from a model config; a plain value, so a benchmark needs no database row."""

    name: str
    architecture: str
    input_fields: Sequence[str]
    output_fields: Sequence[str]
    window_seconds: int
    lookback: int
    forecast: int
    hidden: int
    target_mode: str = "residual"
    epochs: int = _default("epochs")
    batch_size: int = _default("batch_size")
    learning_rate: float = _default("learning_rate")
    patience: int = _default("patience")
    validation_fraction: float = _default("validation_fraction")
    seed: int = _default("seed")

    @classmethod
    def of(cls, model: ModelConfig) -> FitConfig:
        return cls(name=model.name, architecture=model.architecture, input_fields=model.input_fields,
                   output_fields=model.output_fields, window_seconds=model.window_duration_seconds,
                   lookback=model.lookback_steps, forecast=model.forecast_steps, hidden=model.hidden_size,
                   target_mode=model.target_mode, **model.training_params)


@dataclass
class Fitted:
    bundle: Bundle
    result: FitResult  # best epoch, per-epoch losses, how it stopped
    network: nn.Module  # holding the best weights
    samples_train: int
    samples_val: int
    x_val: np.ndarray  # scaled validation inputs
    mean_loss: float  # validation loss of always predicting the training mean (0 once scaled): the bar to clear


def _identity(width: int) -> Scaler:
    return Scaler(np.zeros(width, np.float32), np.ones(width, np.float32))


def fit_model(config: FitConfig, samples: SampleSet, *,
              on_epoch: Callable[[int, float, float], bool] = lambda epoch, train, val: True) -> Fitted:
    train, val = time_split(samples, config.validation_fraction)
    if len(train) < 2 or len(val) < 1:
        raise NotEnoughData(f"only {len(samples)} samples for {config.name}; training needs at least 3")
    architecture = spec(config.architecture)
    target_mode = "residual" if architecture.naive else config.target_mode
    if architecture.naive:
        feature_scaler = _identity(len(config.input_fields))
        target_scaler = _identity(len(config.output_fields))
    else:
        feature_scaler = Scaler.fit(train.x)
        target_scaler = Scaler.fit(targets(train, target_mode))
    x_train, x_val = feature_scaler.transform(train.x), feature_scaler.transform(val.x)
    y_train = target_scaler.transform(targets(train, target_mode))
    y_val = target_scaler.transform(targets(val, target_mode))

    relative_inputs = architecture.reads_relative_inputs(target_mode)
    torch.manual_seed(config.seed)
    network = build_network(config.architecture, lookback=config.lookback, n_inputs=len(config.input_fields),
                            forecast=config.forecast, n_outputs=len(config.output_fields), hidden=config.hidden,
                            relative_inputs=relative_inputs)
    if hasattr(network, "output_index"):  # lookback mean: which input column each output is
        columns = [list(config.input_fields).index(f) for f in config.output_fields]
        cast(torch.Tensor, network.output_index).copy_(torch.tensor(columns))
    result = architecture.trainer(
        network, x_train, y_train, x_val, y_val, epochs=config.epochs, batch_size=config.batch_size,
        learning_rate=config.learning_rate, patience=config.patience, seed=config.seed, on_epoch=on_epoch,
    )
    bundle = Bundle(
        architecture=config.architecture, input_fields=list(config.input_fields),
        output_fields=list(config.output_fields), window_seconds=config.window_seconds, lookback=config.lookback,
        forecast=config.forecast, hidden=config.hidden, target_mode=target_mode,
        feature_scaler=feature_scaler, target_scaler=target_scaler, state_dict=result.state_dict,
        relative_inputs=relative_inputs,
        intervals=calibrate(network, target_scaler, x_val, val, config),
    )
    return Fitted(bundle=bundle, result=result, network=network, samples_train=len(train), samples_val=len(val),
                  x_val=x_val, mean_loss=float(np.mean(y_val**2)))


def calibrate(network: nn.Module, target_scaler: Scaler, x_val: np.ndarray, val: SampleSet,
              config: FitConfig) -> dict[str, conformal.ResidualQuantiles]:
    """Residual quantiles of the fitted network and of the naive forecasters on the calibration
    (validation) samples, in KPI units."""
    network.eval()
    with torch.inference_mode():
        out = np.concatenate([network(torch.from_numpy(x_val[i:i + 4096])).numpy()
                              for i in range(0, len(x_val), 4096)])
    forecast = target_scaler.inverse(out).astype(np.float64)
    if config.target_mode == "residual":
        forecast = forecast + val.last[:, None, :]
    past = conformal.output_past(val, input_fields=config.input_fields, output_fields=config.output_fields)
    return {"model": conformal.ResidualQuantiles.fit(val.y, forecast, conformal.volatility(past)),
            **conformal.naive_residual_quantiles(val, input_fields=config.input_fields,
                                                 output_fields=config.output_fields)}
