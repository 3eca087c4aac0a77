"""`fit`: mini-batch Adam on MSE with a time-ordered validation set and early stopping.

1. Seed torch so a run is repeatable.
2. Each epoch: shuffle the training samples, one pass of Adam, then the validation loss.
3. Keep the weights of the best validation epoch; stop after `patience` epochs without a
   better one, or when `on_epoch` returns False (the job was cancelled).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from torch import nn


@dataclass
class FitResult:
    state_dict: dict
    best_epoch: int
    best_val_loss: float
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, val_loss
    stopped: str = "completed"  # completed | early_stopping | cancelled
    seconds: float = 0.0


def _loss(network: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    network.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            total += nn.functional.mse_loss(network(x[start:start + batch]), y[start:start + batch],
                                            reduction="sum").item()
    return total / max(1, y.numel())


def fit(
    network: nn.Module,
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    *, epochs: int, batch_size: int, learning_rate: float, patience: int, seed: int,
    on_epoch: Callable[[int, float, float], bool] = lambda epoch, train, val: True,
) -> FitResult:
    began = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate)
    best = FitResult(copy.deepcopy(network.state_dict()), 0, _loss(network, xv, yv, 4096))
    since_best = 0
    for epoch in range(1, epochs + 1):
        network.train()
        order = torch.randperm(len(xt), generator=generator)
        running = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            optimiser.zero_grad()
            loss = nn.functional.mse_loss(network(xt[index]), yt[index])
            loss.backward()
            optimiser.step()
            running += loss.item() * len(index)
        train_loss, val_loss = running / len(xt), _loss(network, xv, yv, 4096)
        best.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best.best_val_loss:
            best.state_dict, best.best_epoch, best.best_val_loss = copy.deepcopy(network.state_dict()), epoch, val_loss
            since_best = 0
        else:
            since_best += 1
        if not on_epoch(epoch, train_loss, val_loss):
            best.stopped = "cancelled"
            break
        if since_best >= patience:
            best.stopped = "early_stopping"
            break
    network.load_state_dict(best.state_dict)
    best.seconds = time.perf_counter() - began
    return best


RIDGE_ALPHA = 1.0  # on standardised features; strong enough to tame collinear lookback steps


def fit_ridge(
    network: nn.Module,
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    *, alpha: float = RIDGE_ALPHA, on_epoch: Callable[[int, float, float], bool] = lambda e, t, v: True, **_: object,
) -> FitResult:
    """Closed-form ridge regression into a `LinearForecaster` (one "epoch")."""
    began = time.perf_counter()
    x = x_train.reshape(len(x_train), -1).astype(np.float64)
    y = y_train.reshape(len(y_train), -1).astype(np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    weights = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)  # (features, targets)
    bias = y_mean - x_mean @ weights
    linear = network.linear  # a LinearForecaster's one layer
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"fit_ridge trains a LinearForecaster, not {type(network).__name__}")
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weights.T.astype(np.float32)))
        linear.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return _single_epoch(network, x_train, y_train, x_val, y_val, on_epoch=on_epoch, began=began)


def _single_epoch(network: nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                  y_val: np.ndarray, *, on_epoch: Callable[[int, float, float], bool], began: float) -> FitResult:
    """The result of a fit without epochs (closed form or nothing to learn): its losses recorded
    as one epoch, which `on_epoch` may still cancel."""
    train_loss = _loss(network, torch.from_numpy(x_train), torch.from_numpy(y_train), 4096)
    val_loss = _loss(network, torch.from_numpy(x_val), torch.from_numpy(y_val), 4096)
    result = FitResult(copy.deepcopy(network.state_dict()), 1, val_loss,
                       history=[{"epoch": 1, "train_loss": train_loss, "val_loss": val_loss}])
    if not on_epoch(1, train_loss, val_loss):
        result.stopped = "cancelled"
    result.seconds = time.perf_counter() - began
    return result


def fit_nothing(
    network: nn.Module,
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    *, on_epoch: Callable[[int, float, float], bool] = lambda e, t, v: True, **_: object,
) -> FitResult:
    """A naive forecaster's "fit": nothing to learn; one "epoch" records its losses, so a job
    completes at once through the same path (bundle, version, MLflow run) as any model."""
    began = time.perf_counter()
    return _single_epoch(network, x_train, y_train, x_val, y_val, on_epoch=on_epoch, began=began)


def fit_linear_lstm(
    network: nn.Module,
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, **options,
) -> FitResult:
    """Ridge in closed form, then the LSTM alone as `fit` trains it; the result's losses are the
    mean forecast's (its per-epoch history is the LSTM's)."""
    fit_ridge(cast(nn.Module, network.ridge), x_train, y_train, x_val, y_val)
    result = fit(cast(nn.Module, network.lstm), x_train, y_train, x_val, y_val, **options)
    result.state_dict = copy.deepcopy(network.state_dict())
    result.best_val_loss = _loss(network, torch.from_numpy(x_val), torch.from_numpy(y_val), 4096)
    return result
