"""What a worker does with a claimed job.

1. Fetch the model's windows for every cell over [now − lookback, now − evaluation span]
   (the span is held out, so every later score is on data the version never saw).
2. Build gap-aware samples per cell (gaps of up to MAX_FILLED_WINDOWS windows filled inside a
   lookback, counted in the summary); skip and count cells with too little data.
3. Fit the model (`training.fitting`: time split, scalers on the training split, seeded network,
   trainer); each epoch appends its losses and reads the cancel flag (`training_job_progress`).
4. Cancelled → stop, register nothing. Else write the weight bundle, then in one transaction
   record the `ModelVersion`, complete the job and queue its MLflow run (the mirror logs it
   when MLflow answers: training never waits for MLflow). Any failure fails the job with a
   readable message and removes what was half-written; a worker asked to stop (SIGTERM) fails
   it at the next epoch or data request (`core.shutdown`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from django.conf import settings
from django.db import transaction

from core import resilience, shutdown
from core.errors import DomainError
from registry import services as registry_services
from registry.models import ModelConfig
from telemetry.sources import history_source
from training import services, tracking
from training.bundle import bundle_key, delete_bundle, save_bundle
from training.fitting import FitConfig, NotEnoughData, fit_model
from training.models import TrainingJob
from training.sequences import SampleSet, build_samples, concat

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0


@dataclass
class Dataset:
    samples: SampleSet
    summary: dict


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def fetch_samples(model: ModelConfig, *, lookback_seconds: int, job_id=None) -> Dataset:
    source = history_source()
    end = source.now() - settings.EVALUATION_SPAN_SECONDS
    start = end - lookback_seconds
    fields = list(dict.fromkeys(model.input_fields + model.output_fields))
    need = model.lookback_steps + model.forecast_steps
    per_cell, windows, longest, skipped = [], 0, 0, 0
    last_beat = time.monotonic()
    holdout = set(settings.TRAINING_HOLDOUT_CELLS)
    cells = [c for c in source.cells() if c not in holdout]
    for cell in cells:
        shutdown.check()
        frame = source.windows(cell_index=cell, window_seconds=model.window_duration_seconds,
                               start=start, end=end, fields=fields)
        windows += len(frame)
        longest = max([longest] + [b - a for a, b in frame.segments()])
        samples = build_samples(frame, inputs=model.input_fields, outputs=model.output_fields,
                                lookback=model.lookback_steps, forecast=model.forecast_steps,
                                max_filled=settings.MAX_FILLED_WINDOWS)
        if len(samples):
            per_cell.append(samples)
        else:
            skipped += 1
        if job_id and time.monotonic() - last_beat > HEARTBEAT_SECONDS:
            services.training_job_heartbeat(job_id=job_id)
            last_beat = time.monotonic()
    if not per_cell:
        raise NotEnoughData(
            f"not enough data to train {model.name}: {source.name} had {windows} windows of "
            f"{model.window_duration_seconds} s in {len(cells)} cells between {_utc(start)} and {_utc(end)}, "
            f"the longest unbroken run being {longest} windows; one sample needs {need} contiguous windows "
            f"(lookback {model.lookback_steps} + forecast {model.forecast_steps}) without missing values"
        )
    samples = concat(per_cell)
    return Dataset(samples, {
        "source": source.name, "data_from": _utc(start), "data_until": _utc(end), "cells_total": len(cells),
        "cells_used": len(per_cell), "cells_skipped": skipped, "cells_held_out": len(holdout), "windows": windows,
        "runs": samples.segments,
        "samples": len(samples), "samples_dropped_nan": samples.dropped_nan,
        "max_filled_windows": settings.MAX_FILLED_WINDOWS, "windows_filled": samples.filled_windows,
        "samples_with_filled": samples.filled_samples,
    })


class EndedElsewhere(Exception):
    def __str__(self) -> str:
        return "the job was ended elsewhere (cancelled or failed) while it finished"


def run(job_id) -> str:
    """Run one job end to end; returns its final status."""
    # Every log line of the job names it; its data requests use the patient background profile.
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)), resilience.background():
        job = services.training_job_claim(job_id=job_id, worker=services.worker_id())
        if job is None:
            return "not claimed"
        try:
            return _train(job)
        except Exception as error:  # every failure ends the job readably and frees the lock
            if isinstance(error, shutdown.WorkerStopped):
                log.warning("training job %s stopped: %s", job_id, error.message)
            else:
                log.exception("training job %s failed", job_id)
            message = error.message if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
            services.training_job_fail(job_id=job_id, error=message)
            return "failed"


def _train(job: TrainingJob) -> str:
    began = time.perf_counter()
    model = ModelConfig.objects.prefetch_related("fields").get(id=job.model_id)
    data = fetch_samples(model, lookback_seconds=job.lookback_seconds, job_id=job.id)
    def on_epoch(epoch: int, train_loss: float, val_loss: float) -> bool:
        shutdown.check()  # a stopping worker fails the job here (WorkerStopped)
        return services.training_job_progress(job_id=job.id, epoch=epoch, train_loss=train_loss, val_loss=val_loss)

    fitted = fit_model(FitConfig.of(model), data.samples, on_epoch=on_epoch)
    result, bundle = fitted.result, fitted.bundle
    if result.stopped == "cancelled":
        services.training_job_mark_cancelled(job_id=job.id)
        return "cancelled"

    summary = {**data.summary, "samples_train": fitted.samples_train, "samples_val": fitted.samples_val,
               "best_epoch": result.best_epoch, "epochs_run": len(result.history), "stopped": result.stopped,
               "fit_seconds": round(result.seconds, 3)}
    metrics = {"best_val_loss": result.best_val_loss, "train_mean_val_loss": fitted.mean_loss,
               "final_train_loss": result.history[-1]["train_loss"] if result.history else float("nan")}
    key = save_bundle(bundle, bundle_key(model_id=model.id, job_id=job.id))
    try:
        summary["job_seconds"] = round(time.perf_counter() - began, 3)
        # The version, the completion and the MLflow run to log exist together or not at all;
        # MLflow itself catches up later through the outbox (training.tracking).
        with transaction.atomic():
            version = registry_services.model_version_create(
                model_id=model.id, bundle_path=key,
                trained_from=datetime.fromisoformat(summary["data_from"]),
                trained_until=datetime.fromisoformat(summary["data_until"]),
                metrics=metrics, data_summary=summary,
            )
            if not services.training_job_complete(job_id=job.id, version=version, summary=summary):
                raise EndedElsewhere()
            tracking.training_run_enqueue(
                job=job, model=model, version=version, history=result.history, metrics=metrics,
                input_example=fitted.x_val[:1],
                params={"architecture": model.architecture, "input_fields": ",".join(model.input_fields),
                        "output_fields": ",".join(model.output_fields),
                        "window_seconds": model.window_duration_seconds, "lookback_steps": model.lookback_steps,
                        "forecast_steps": model.forecast_steps, "hidden_size": model.hidden_size,
                        "target_mode": model.target_mode, "relative_inputs": bundle.relative_inputs,
                        "lookback_seconds": job.lookback_seconds, **model.training_params, **summary},
            )
    except BaseException as error:
        _remove_unrecorded(key)
        if isinstance(error, EndedElsewhere) and services.training_job_mark_cancelled(job_id=job.id):
            return "cancelled"  # the cancel arrived after the last epoch
        raise
    return "completed"


def _remove_unrecorded(key: str) -> None:
    """The bundle of a job that did not complete; with the storage down, the sweep removes it later."""
    try:
        delete_bundle(key)
    except DomainError as error:
        log.warning("could not remove bundle %s (%s); the bundle sweep will", key, error.message)
