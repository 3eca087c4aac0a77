"""MLflow side of a training job: one run per job, registered as a new model version.

Experiment per model: `{MLFLOW_EXPERIMENT_PREFIX}/{model name}`. The model is logged with the
PyTorch flavour and explicit pip requirements (inferring them costs ~15 s), in the pickle
format (pt2 needs torch.export and costs seconds more). Serving never loads it from here: the
weight bundle is the serving artifact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from torch import nn

from registry import mlflow_gateway

log = logging.getLogger(__name__)
PIP_REQUIREMENTS = ["torch==2.13.0", "mlflow==3.17.2", "numpy==2.4.6"]


@dataclass
class TrackedRun:
    run_id: str
    experiment_id: str
    mlflow_version: str


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=settings.MLFLOW_ARTIFACT_LOCATION and
                                        f"{settings.MLFLOW_ARTIFACT_LOCATION}/{name.replace('/', '_')}")
    except Exception as error:  # another worker created it first
        if mlflow_gateway.error_code(error) != mlflow_gateway.ALREADY_EXISTS:
            raise
        return client.get_experiment_by_name(name).experiment_id


def log_training_run(*, model_id: str, model_name: str, job_id: str, params: dict[str, Any],
                     history: list[dict], metrics: dict[str, float], network: nn.Module,
                     input_example: np.ndarray) -> TrackedRun:
    import mlflow
    import mlflow.pytorch
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow_gateway.client()
    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    mlflow.set_registry_uri(settings.MLFLOW_TRACKING_URI)
    experiment_id = _experiment_id(client, f"{settings.MLFLOW_EXPERIMENT_PREFIX}/{model_name}")
    run = client.create_run(experiment_id, run_name=f"job-{job_id}",
                            tags={"cellwise.model_id": model_id, "cellwise.job_id": job_id})
    run_id = run.info.run_id
    try:
        timestamp = run.info.start_time
        epoch_metrics = [
            Metric(key, float(row[key]), timestamp, row["epoch"])
            for row in history for key in ("train_loss", "val_loss")
        ]
        final_metrics = [Metric(key, float(value), timestamp, 0) for key, value in metrics.items()]
        client.log_batch(run_id, metrics=epoch_metrics + final_metrics,
                         params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                         tags=[RunTag("cellwise.model_name", model_name)])
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pytorch.log_model(
                network, name="model", registered_model_name=model_id, pip_requirements=PIP_REQUIREMENTS,
                input_example=input_example, serialization_format="pickle", await_registration_for=0,
            )
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return TrackedRun(run_id=run_id, experiment_id=str(experiment_id),
                      mlflow_version=str(info.registered_model_version or ""))


def discard_version(*, model_id: str, tracked: TrackedRun, reason: str) -> None:
    """Undo the registration of a run whose job did not complete, so the MLflow registry never
    shows a version cellwise does not have. Best effort: the run itself stays, tagged."""
    try:
        client = mlflow_gateway.client()
        client.set_tag(tracked.run_id, "cellwise.discarded", reason[:500])
        if tracked.mlflow_version:
            client.delete_model_version(model_id, tracked.mlflow_version)
    except Exception as error:  # MLflow down: leave it; the version has no cellwise row to serve it
        if mlflow_gateway.error_code(error) != mlflow_gateway.DOES_NOT_EXIST:
            log.warning("could not discard MLflow version %s of %s: %s", tracked.mlflow_version, model_id, error)
