"""A loaded version: turns raw KPI windows into forecasts in KPI units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.bundle import Bundle


@dataclass
class LoadedModel:
    bundle: Bundle
    network: nn.Module

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> LoadedModel:
        # Forecasts are tiny: one thread avoids oversubscribing web and worker processes. Set
        # here, on first use in a process, never at import (qcluster's master must not run torch).
        torch.set_num_threads(1)
        return cls(bundle, bundle.network())

    def predict(self, x: np.ndarray, last: np.ndarray) -> np.ndarray:
        """x: (n, lookback, inputs) raw values; last: (n, outputs) last observed outputs.

        Returns (n, forecast, outputs) in KPI units: the network's scaled output, unscaled, plus
        the last observed value when the model learned changes (residual targets).
        """
        scaled = self.bundle.feature_scaler.transform(np.asarray(x, np.float32))
        with torch.inference_mode():
            out = self.network(torch.from_numpy(scaled)).numpy()
        values = self.bundle.target_scaler.inverse(out)
        if self.bundle.target_mode == "residual":
            values = values + np.asarray(last, np.float32)[:, None, :]
        return values.astype(np.float64)
