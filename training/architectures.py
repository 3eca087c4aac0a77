"""What each architecture is, in one table: its network, how it is trained, how many epochs a
job runs and whether it reads its inputs relative to the last window.

The names and the descriptions shown in the API, the admin and the pages are the registry's
`Architecture` choices (the registry sits below training, so it cannot read this module); the
table is keyed by them and refuses to load when one lacks a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from registry.models import Architecture
from training.networks import (
    LinearForecaster,
    LinearLSTMForecaster,
    LookbackMeanForecaster,
    LSTMForecaster,
    MLPForecaster,
    PersistenceForecaster,
)
from training.trainer import FitResult, fit, fit_linear_lstm, fit_nothing, fit_ridge


@dataclass(frozen=True)
class ArchitectureSpec:
    network: type[nn.Module]
    trainer: Callable[..., FitResult]
    # Trained epoch by epoch from seeded weights (runs the model's `epochs`, and seeds matter);
    # otherwise solved in closed form in one step.
    iterative: bool
    # With residual targets, reads each input step minus the latest one: changes carry over
    # between cells whose levels differ (see training/networks.py for the measured effect).
    relative_inputs: bool
    # A naive forecaster: nothing fitted, identity scalers, always residual (see training.fitting).
    naive: bool = False

    def epochs(self, configured: int) -> int:
        return configured if self.iterative else 1

    def reads_relative_inputs(self, target_mode: str) -> bool:
        return self.relative_inputs and target_mode == "residual"


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    Architecture.ANN: ArchitectureSpec(MLPForecaster, fit, iterative=True, relative_inputs=True),
    Architecture.LSTM: ArchitectureSpec(LSTMForecaster, fit, iterative=True, relative_inputs=True),
    # Ridge keeps the levels: it uses them well.
    Architecture.LINEAR: ArchitectureSpec(LinearForecaster, fit_ridge, iterative=False, relative_inputs=False),
    # Relative inputs reach its LSTM only; its ridge keeps the levels.
    Architecture.LINEAR_LSTM: ArchitectureSpec(LinearLSTMForecaster, fit_linear_lstm, iterative=True,
                                               relative_inputs=True),
    # Registered like models so that elections count them and one can be served as the best.
    Architecture.PERSISTENCE: ArchitectureSpec(PersistenceForecaster, fit_nothing, iterative=False,
                                               relative_inputs=False, naive=True),
    Architecture.LOOKBACK_MEAN: ArchitectureSpec(LookbackMeanForecaster, fit_nothing, iterative=False,
                                                 relative_inputs=False, naive=True),
}
if set(ARCHITECTURES) != set(Architecture.values):
    raise ImportError(f"training.architectures lacks a row for {sorted(set(Architecture.values) - set(ARCHITECTURES))}")


def spec(architecture: str) -> ArchitectureSpec:
    return ARCHITECTURES[architecture]


def is_naive(architecture: str) -> bool:
    return spec(architecture).naive


def uses_relative_inputs(architecture: str, target_mode: str) -> bool:
    return spec(architecture).reads_relative_inputs(target_mode)


def build_network(architecture: str, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int,
                  hidden: int, relative_inputs: bool = False) -> nn.Module:
    shape = dict(lookback=lookback, n_inputs=n_inputs, forecast=forecast, n_outputs=n_outputs, hidden=hidden)
    if relative_inputs:  # only the networks that read relative inputs take it
        shape["relative_inputs"] = True
    return spec(architecture).network(**shape)
