"""Weight bundles: everything inference and scoring need to run a trained version, in one file
in the "models" storage (S3/MinIO in production, local files by default).

A bundle is a `torch.save`d dict of tensors, numbers, strings and lists, so it loads with
`torch.load(weights_only=True)`: no pickled code runs when a bundle is read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from registry import bundle_store
from registry.bundle_store import BundleUnusable
from training.architectures import build_network
from training.conformal import ResidualQuantiles
from training.sequences import Scaler

FORMAT = 2  # 2: records whether the network reads its inputs relative to the last window
# Prediction intervals ride in an optional "intervals" key, not a new format: code that predates
# them still reads a bundle that has them (a web process older than the worker that trained it).
READABLE_FORMATS = (1, 2)


@dataclass
class Bundle:
    architecture: str
    input_fields: list[str]
    output_fields: list[str]
    window_seconds: int
    lookback: int
    forecast: int
    hidden: int
    target_mode: str
    feature_scaler: Scaler
    target_scaler: Scaler
    state_dict: dict[str, torch.Tensor]
    relative_inputs: bool = False
    # Per forecaster ("model", "persistence", "lookback_mean"): residual quantiles of the
    # calibration split (training.conformal); None for bundles trained before intervals.
    intervals: dict[str, ResidualQuantiles] | None = None

    def network(self) -> nn.Module:
        network = build_network(self.architecture, lookback=self.lookback, n_inputs=len(self.input_fields),
                                forecast=self.forecast, n_outputs=len(self.output_fields), hidden=self.hidden,
                                relative_inputs=self.relative_inputs)
        network.load_state_dict(self.state_dict)
        return network.eval()

    def to_dict(self) -> dict[str, Any]:
        return {
            # Plain str/int only (choices enums would not load with weights_only=True).
            "format": FORMAT, "architecture": str(self.architecture),
            "input_fields": [str(f) for f in self.input_fields],
            "output_fields": [str(f) for f in self.output_fields], "window_seconds": int(self.window_seconds),
            "lookback": int(self.lookback), "forecast": int(self.forecast), "hidden": int(self.hidden),
            "target_mode": str(self.target_mode), "relative_inputs": bool(self.relative_inputs),
            "feature_mean": torch.from_numpy(self.feature_scaler.mean),
            "feature_std": torch.from_numpy(self.feature_scaler.std),
            "target_mean": torch.from_numpy(self.target_scaler.mean),
            "target_std": torch.from_numpy(self.target_scaler.std),
            "state_dict": self.state_dict,
            **({"intervals": {str(k): v.to_dict() for k, v in self.intervals.items()}} if self.intervals else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bundle:
        if data.get("format") not in READABLE_FORMATS:
            raise ValueError(f"unknown bundle format {data.get('format')!r}")
        return cls(
            architecture=data["architecture"], input_fields=list(data["input_fields"]),
            output_fields=list(data["output_fields"]), window_seconds=int(data["window_seconds"]),
            lookback=int(data["lookback"]), forecast=int(data["forecast"]), hidden=int(data["hidden"]),
            target_mode=data["target_mode"],
            feature_scaler=Scaler(np.asarray(data["feature_mean"]), np.asarray(data["feature_std"])),
            target_scaler=Scaler(np.asarray(data["target_mean"]), np.asarray(data["target_std"])),
            state_dict=data["state_dict"], relative_inputs=bool(data.get("relative_inputs", False)),
            intervals={k: ResidualQuantiles.from_dict(v) for k, v in data["intervals"].items()}
            if data.get("intervals") else None,
        )


def bundle_key(*, model_id, job_id) -> str:
    """Where a job writes its bundle: under its model, named by the job (how recovery and the
    orphan sweep tell whose it is)."""
    return f"{bundle_store.model_prefix(model_id)}/{job_id}.pt"


def save_bundle(bundle: Bundle, key: str) -> str:
    """Write the bundle under `key` in the models storage; returns the key actually used."""
    buffer = io.BytesIO()
    torch.save(bundle.to_dict(), buffer)
    return bundle_store.write(key, buffer.getvalue())


def load_bundle(key: str) -> Bundle:
    """DependencyDown when the storage is down; BundleUnusable when the object is missing or is
    not a bundle."""
    content = bundle_store.read(key)
    try:
        return Bundle.from_dict(torch.load(io.BytesIO(content), weights_only=True, map_location="cpu"))
    except Exception as error:  # truncated, foreign or tampered bytes
        raise BundleUnusable(f"its weight bundle {key} cannot be read ({type(error).__name__}: {str(error)[:200]})",
                             bundle_path=key) from error


def delete_bundle(key: str) -> None:
    bundle_store.delete(key)
