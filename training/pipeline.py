"""What a worker does with a claimed job.

1. Choose the cells: every cell, or a stratified sample of at most TRAINING_MAX_CELLS
   (`training.sampling`: a survey of the latest windows sorts cells into kinds).
2. Read their windows over [now − lookback, now − evaluation span] (the span is held out, so
   every later score is on data the version never saw), a chunk of cells at a time in float32;
   per chunk fill each cell's gaps of up to MAX_FILLED_WINDOWS windows, find its valid samples
   (gap-aware; a lookback may hold that many filled windows, counted in the summary), cap them (at most
   TRAINING_MAX_SAMPLES in all, the newest kept) and gather the kept ones into preallocated
   arrays; count cells with too little data. Each chunk records cells read of the total and
   reads the cancel flag.
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

import numpy as np
import structlog
from django.conf import settings
from django.db import transaction

from core import resilience, shutdown
from core.errors import DomainError
from registry import services as registry_services
from registry.models import ModelConfig
from telemetry.batch import as_cells
from telemetry.sources import history_source
from training import sampling, services, tracking
from training.bundle import bundle_key, delete_bundle, save_bundle
from training.fitting import FitConfig, NotEnoughData, fit_model
from training.models import JobPhase, TrainingJob
from training.sequences import SampleSet, fill_for_samples, valid_origins

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    samples: SampleSet
    summary: dict


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


class FetchCancelled(Exception):
    """A cancel was requested while the job read its data."""


FETCH_CHUNK_CELLS = 100  # cells per read: a cancel or a stop is seen within one chunk


def fetch_samples(model: ModelConfig, *, lookback_seconds: int, job_id=None) -> Dataset:
    source = history_source()
    end = source.now() - settings.EVALUATION_SPAN_SECONDS
    start = end - lookback_seconds
    fields = list(dict.fromkeys(model.input_fields + model.output_fields))
    inputs, outputs = model.input_fields, model.output_fields
    lookback, forecast = model.lookback_steps, model.forecast_steps
    shape = dict(lookback=lookback, forecast=forecast, n_inputs=len(inputs), n_outputs=len(outputs))

    def progress(phase: str):
        def report(done: int, total: int) -> None:
            shutdown.check()
            if job_id and not services.training_job_fetch_progress(job_id=job_id, phase=phase, done=done,
                                                                   total=total):
                raise FetchCancelled()
        return report

    holdout = set(settings.TRAINING_HOLDOUT_CELLS)
    network = as_cells(source.cells())
    cells = network[~np.isin(network, list(holdout))] if holdout else network
    plan = sampling.choose_cells(source, cells, most=settings.TRAINING_MAX_CELLS,
                                 window_seconds=model.window_duration_seconds, level_field=outputs[0],
                                 seed=FitConfig.of(model).seed, on_progress=progress(JobPhase.SURVEY))
    capacity = min(settings.TRAINING_MAX_SAMPLES,
                   max(3, sampling.SAMPLE_MEMORY_BYTES // sampling.SampleBuffer.bytes_per_sample(**shape)))
    buffer = sampling.SampleBuffer(capacity, **shape)
    windows = longest = used = candidates = dropped_nan = runs = windows_filled = samples_with_filled = 0
    max_filled = settings.MAX_FILLED_WINDOWS
    newest = None
    fetched = progress(JobPhase.FETCH)
    fetched(0, len(plan.cells))
    chunks = source.windows_chunks(cells=plan.cells, window_seconds=model.window_duration_seconds, start=start,
                                   end=end, fields=fields, dtype=np.float32, chunk_size=FETCH_CHUNK_CELLS)
    done = 0
    for batch in chunks:
        frames = list(batch.frames())  # views of the chunk's arrays
        if max_filled:
            frames = [fill_for_samples(f, max_filled) for f in frames]
        found = [valid_origins(f, inputs=inputs, outputs=outputs, lookback=lookback, forecast=forecast,
                               max_filled=max_filled) for f in frames]
        counts = np.array([len(o.origins) for o in found], np.int64)
        # This chunk's share of the budget left (step 5 of training.sampling).
        share = buffer.left * len(frames) // max(1, len(plan.cells) - done)
        quotas = sampling.water_fill(counts, share if done + len(frames) < len(plan.cells) else buffer.left)
        for frame, origins, quota in zip(frames, found, quotas, strict=True):
            windows += len(frame)
            dropped_nan += origins.dropped_nan
            runs += origins.segments
            windows_filled += origins.filled_windows
            if len(frame):
                edges = np.flatnonzero(frame.gap_before)
                longest = max(longest, int(np.diff(np.append(edges, len(frame))).max()))
            if len(origins.origins):
                used += 1
                candidates += len(origins.origins)
                newest = max(newest or 0, int(frame.end[origins.origins[-1] + lookback - 1]))
                keep = sampling.newest_first(origins.origins, int(quota))
                buffer.add(frame, keep, inputs=inputs, outputs=outputs, lookback=lookback, forecast=forecast)
                if origins.filled_lookbacks is not None:
                    samples_with_filled += int(origins.filled_lookbacks[np.isin(origins.origins, keep)].sum())
        done += len(frames)
        del batch, frames, found  # hold one chunk at a time
        fetched(done, len(plan.cells))
    if not used:
        raise NotEnoughData(
            f"not enough data to train {model.name}: {source.name} had {windows} windows of "
            f"{model.window_duration_seconds} s in {len(plan.cells)} cells between {_utc(start)} and {_utc(end)}, "
            f"the longest unbroken run being {longest} windows; one sample needs {lookback + forecast} contiguous "
            f"windows (lookback {lookback} + forecast {forecast}) without missing values"
        )
    samples = buffer.samples()
    samples.dropped_nan, samples.segments = dropped_nan, runs
    kept_newest = int(samples.origin.max())
    return Dataset(samples, {
        "source": source.name, "data_from": _utc(start), "data_until": _utc(end), "cells_total": len(cells),
        "cells_read": len(plan.cells), "cells_used": used, "cells_skipped": len(plan.cells) - used,
        "cells_held_out": len(holdout), "windows": windows, "runs": runs,
        "samples": len(samples), "samples_dropped_nan": dropped_nan,
        "max_filled_windows": max_filled, "windows_filled": windows_filled,
        "samples_with_filled": samples_with_filled,
        "sampling": {
            "cells": plan.summary(), "max_cells": settings.TRAINING_MAX_CELLS,
            "max_samples": settings.TRAINING_MAX_SAMPLES, "sample_capacity": capacity,
            "samples_valid": candidates, "samples_kept": len(samples),
            "samples": ("every valid sample" if len(samples) == candidates else
                        "per cell: the newest half of its quota and the rest spread evenly over its older "
                        "samples; quotas water-filled chunk by chunk"),
            "newest_sample": _utc(kept_newest) if newest is not None else None,
        },
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
    try:
        data = fetch_samples(model, lookback_seconds=job.lookback_seconds, job_id=job.id)
    except FetchCancelled:
        services.training_job_mark_cancelled(job_id=job.id)
        return "cancelled"
    services.training_job_fetch_progress(job_id=job.id, phase=JobPhase.FIT, done=data.summary["cells_read"],
                                         total=data.summary["cells_read"])
    def on_epoch(epoch: int, train_loss: float, val_loss: float) -> bool:
        shutdown.check()  # a stopping worker fails the job here (WorkerStopped)
        return services.training_job_progress(job_id=job.id, epoch=epoch, train_loss=train_loss, val_loss=val_loss)

    fitted = fit_model(FitConfig.of(model), data.samples, on_epoch=on_epoch)
    result, bundle = fitted.result, fitted.bundle
    if result.stopped == "cancelled":
        services.training_job_mark_cancelled(job_id=job.id)
        return "cancelled"

    summary = {**data.summary, "samples_train": fitted.samples_train, "samples_val": fitted.samples_val,
               "samples_purged": len(data.samples) - fitted.samples_train - fitted.samples_val,
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
