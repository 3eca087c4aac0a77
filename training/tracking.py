"""MLflow side of a training job, logged after the fact through the registry's outbox.

A job completes (its version recorded, usable at once) without MLflow; the same transaction
queues a `log_training_run` row with everything the run needs. The mirror's flush applies it:

1. the run: found by its `cellwise.job_id` tag, else created (experiment
   `{MLFLOW_EXPERIMENT_PREFIX}/{model name}`); params and per-epoch metrics with fixed
   timestamps, so logging them again changes nothing;
2. the model: rebuilt from the weight bundle and logged with the PyTorch flavour (pickle
   format, explicit pip requirements: inferring them costs ~15 s), unless the run already has
   a READY logged model; a missing bundle logs the run without it;
3. the registered version: found by run id, else registered;
4. the run is FINISHED, and the version's `mlflow_*` fields (and the job's run id) are filled.

A flush killed anywhere in between is replayed from step 1 and finds what it already did, so a
job never gets two runs or two versions. Serving never loads from MLflow: the bundle is the
serving artifact.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from registry import mlflow_gateway, services as registry_services
from registry.models import MlflowOutbox, ModelConfig, ModelVersion
from training import services
from training.models import TrainingJob

log = logging.getLogger(__name__)
PIP_REQUIREMENTS = ["torch==2.13.0", "mlflow==3.17.2", "numpy==2.4.6"]
JOB_TAG = "cellwise.job_id"
MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH = 1000, 100  # MLflow's log_batch limits


def training_run_enqueue(*, job: TrainingJob, model: ModelConfig, version: ModelVersion, params: dict[str, Any],
                         history: list[dict], metrics: dict[str, float], input_example) -> None:
    """Queue the run of a completing job; call inside the transaction that completes it."""
    started = job.started_at or job.created_at
    registry_services.mirror_enqueue(operation=MlflowOutbox.Operation.LOG_TRAINING_RUN, model_id=model.id, payload={
        "job_id": str(job.id), "version_id": version.id, "model_name": model.name,
        "params": {k: str(v)[:6000] for k, v in params.items()}, "history": history,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "input_example": input_example.tolist(), "started_ms": int(started.timestamp() * 1000),
    })


def apply_training_run(client, row: MlflowOutbox) -> None:
    """The mirror's applier for `log_training_run` rows (registered in TrainingConfig.ready)."""
    payload = row.payload
    version = ModelVersion.objects.filter(id=payload["version_id"]).first()
    if version is None:
        return  # its model was deleted before MLflow caught up: nothing left to mirror
    import mlflow

    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    mlflow.set_registry_uri(settings.MLFLOW_TRACKING_URI)
    model_id = row.registered_model
    experiment_id = _experiment_id(client, f"{settings.MLFLOW_EXPERIMENT_PREFIX}/{payload['model_name']}")
    run = find_run(client, experiment_id, payload["job_id"]) or client.create_run(
        experiment_id, run_name=f"job-{payload['job_id']}", start_time=payload["started_ms"],
        tags={"cellwise.model_id": model_id, JOB_TAG: payload["job_id"], "cellwise.model_name": payload["model_name"]})
    run_id = run.info.run_id
    _log_values(client, run_id, payload)
    logged = _logged_model(client, experiment_id, run_id) or _log_model(client, run_id, version, payload)
    mlflow_version = ""
    if logged is not None:
        mlflow_version = _registered_version(client, model_id, run_id) or str(
            mlflow.register_model(f"models:/{logged}", model_id, await_registration_for=0).version)
    client.set_terminated(run_id, "FINISHED")
    with transaction.atomic():
        registry_services.model_version_mlflow_record(version_id=version.id, run_id=run_id,
                                                      experiment_id=str(experiment_id), mlflow_version=mlflow_version)
        services.training_job_mlflow_record(job_id=payload["job_id"], run_id=run_id)


def find_run(client, experiment_id: str, job_id: str):
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{job_id}'", max_results=1)
    return runs[0] if runs else None


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


def _log_values(client, run_id: str, payload: dict) -> None:
    """Params and metrics with the job's start as their timestamp: a replay logs the same rows,
    which MLflow keeps once."""
    from mlflow.entities import Metric, Param

    timestamp = payload["started_ms"]
    metrics = [Metric(key, float(row[key]), timestamp, row["epoch"])
               for row in payload["history"] for key in ("train_loss", "val_loss")]
    metrics += [Metric(key, value, timestamp, 0) for key, value in payload["metrics"].items()]
    params = [Param(key, value) for key, value in payload["params"].items()]
    for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + MAX_METRICS_PER_BATCH])
    for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[i:i + MAX_PARAMS_PER_BATCH])


def _logged_model(client, experiment_id: str, run_id: str) -> str | None:
    """The id of the run's completely logged model, if a previous flush got that far."""
    from mlflow.entities import LoggedModelStatus

    for logged in client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'"):
        if logged.status == LoggedModelStatus.READY:
            return logged.model_id
    return None


def _log_model(client, run_id: str, version: ModelVersion, payload: dict) -> str | None:
    import mlflow
    import mlflow.pytorch
    import numpy as np

    from registry.bundle_store import BundleUnusable
    from training.bundle import load_bundle

    try:
        bundle = load_bundle(version.bundle_path)
    except BundleUnusable as error:  # the run is still worth having, without its model
        client.set_tag(run_id, "cellwise.model_missing", error.message[:500])
        return None
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(
            bundle.network(), name="model", pip_requirements=PIP_REQUIREMENTS,
            input_example=np.asarray(payload["input_example"], dtype=np.float32), serialization_format="pickle",
        )
    return info.model_id


def _registered_version(client, model_id: str, run_id: str) -> str | None:
    versions = client.search_model_versions(f"name = '{model_id}' AND run_id = '{run_id}'")
    return str(versions[0].version) if versions else None
