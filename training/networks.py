"""The forecasting networks. Both map (batch, lookback, inputs) to (batch, forecast, outputs)."""

from __future__ import annotations

import torch
from torch import nn


class MLPForecaster(nn.Module):
    """`ann`: a two-hidden-layer MLP over the flattened lookback."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int) -> None:
        super().__init__()
        self.forecast, self.n_outputs = forecast, n_outputs
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(lookback * n_inputs, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, forecast * n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1, self.forecast, self.n_outputs)


class LSTMForecaster(nn.Module):
    """`lstm`: a two-layer LSTM; a linear head reads the last hidden state."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int) -> None:
        super().__init__()
        self.forecast, self.n_outputs = forecast, n_outputs
        self.lstm = nn.LSTM(n_inputs, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, forecast * n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        return self.head(output[:, -1]).view(-1, self.forecast, self.n_outputs)


class LinearForecaster(nn.Module):
    """`linear`: one linear map from the flattened lookback to every step and output. Trained in
    closed form (ridge), not by gradient descent; `hidden` is ignored."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int) -> None:
        super().__init__()
        self.forecast, self.n_outputs = forecast, n_outputs
        self.linear = nn.Linear(lookback * n_inputs, forecast * n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).view(-1, self.forecast, self.n_outputs)


ARCHITECTURES = {"ann": MLPForecaster, "lstm": LSTMForecaster, "linear": LinearForecaster}


def build_network(architecture: str, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int,
                  hidden: int) -> nn.Module:
    return ARCHITECTURES[architecture](
        lookback=lookback, n_inputs=n_inputs, forecast=forecast, n_outputs=n_outputs, hidden=hidden
    )
