"""The forecasting networks. Each maps (batch, lookback, inputs) to (batch, forecast, outputs).

With residual targets the `ann` and `lstm` networks also see their inputs *relative to the last
window* (each step minus the latest one). Levels differ a lot between cells (RSRP −80 dBm in
one, −110 in the next); changes do not, so the network learns dynamics that carry over to
cells it never saw. Measured by `bench/accuracy.py` (cells never trained on, 10 s windows,
skill over persistence, lstm): SINR +0.1 % → +5.8 %, CQI 3 steps ahead +0.9 % → +11.4 %;
RSRP, which hardly moves but by level, −3.5 % instead of +0.2 %. `linear` keeps the levels:
ridge regression uses them well.
"""

from __future__ import annotations

import torch
from torch import nn


def relative_to_last(x: torch.Tensor) -> torch.Tensor:
    return x - x[:, -1:, :]


class MLPForecaster(nn.Module):
    """`ann`: a two-hidden-layer MLP over the flattened lookback."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int,
                 relative_inputs: bool = False) -> None:
        super().__init__()
        self.forecast, self.n_outputs, self.relative_inputs = forecast, n_outputs, relative_inputs
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(lookback * n_inputs, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, forecast * n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relative_inputs:
            x = relative_to_last(x)
        return self.net(x).view(-1, self.forecast, self.n_outputs)


class LSTMForecaster(nn.Module):
    """`lstm`: a two-layer LSTM; a linear head reads the last hidden state."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int,
                 relative_inputs: bool = False) -> None:
        super().__init__()
        self.forecast, self.n_outputs, self.relative_inputs = forecast, n_outputs, relative_inputs
        self.lstm = nn.LSTM(n_inputs, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, forecast * n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relative_inputs:
            x = relative_to_last(x)
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


class PersistenceForecaster(nn.Module):
    """`persistence`: no change from the last window (a zero residual); nothing to fit. Its
    bundle's scalers are the identity, so it reads and answers KPI units."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int) -> None:
        super().__init__()
        self.forecast, self.n_outputs = forecast, n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((len(x), self.forecast, self.n_outputs))


class LookbackMeanForecaster(nn.Module):
    """`lookback_mean`: every step is the output's mean over the lookback, as a change from the
    last window (identity scalers). `output_index` (a buffer, saved in the bundle) says which
    input column each output is."""

    output_index: torch.Tensor

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int) -> None:
        super().__init__()
        self.forecast = forecast
        self.register_buffer("output_index", torch.zeros(n_outputs, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        series = x[:, :, self.output_index]
        change = series.mean(dim=1) - series[:, -1]
        return change[:, None, :].expand(-1, self.forecast, -1).contiguous()


class LinearLSTMForecaster(nn.Module):
    """`linear_lstm`: the mean of a ridge forecast (levels) and an LSTM forecast (relative
    inputs with residual targets). Their errors differ enough that the mean beat each alone on
    cells never trained on (bench/accuracy.py)."""

    def __init__(self, *, lookback: int, n_inputs: int, forecast: int, n_outputs: int, hidden: int,
                 relative_inputs: bool = False) -> None:
        super().__init__()
        shape = dict(lookback=lookback, n_inputs=n_inputs, forecast=forecast, n_outputs=n_outputs, hidden=hidden)
        self.ridge = LinearForecaster(**shape)
        self.lstm = LSTMForecaster(**shape, relative_inputs=relative_inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.ridge(x) + self.lstm(x)) / 2
