"""django-q2 entry points of the forecast schedule: every cell of each evaluated field, once per window."""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def forecast_tick() -> list[str]:
    """Run by a minute schedule (and callable by hand).

    1. For each field with an elected best: its version and window; the slot is the start of the
       source's current window (`now` floored to the window).
    2. Claim (field, slot) by creating the run row with its chunks of FORECAST_CHUNK_CELLS cells;
       a slot already claimed (another scheduler, an earlier tick) is skipped.
    3. After commit, queue one `forecast_chunk` task per chunk: any worker on the broker takes one.
    A failing field is logged and never stops the others. First, chunks a dead worker left are
    queued again (or failed after FORECAST_CHUNK_MAX_ATTEMPTS claims): `forecast_chunks_recover`.
    """
    from core.errors import DomainError
    from inference import cache, services
    from registry.models import FieldBest
    from telemetry.sources import latest_source

    requeue, done = services.forecast_chunks_recover(lease_seconds=settings.FORECAST_CHUNK_LEASE_SECONDS,
                                                     max_attempts=settings.FORECAST_CHUNK_MAX_ATTEMPTS)
    if requeue:
        transaction.on_commit(partial(_queue_chunks, requeue))
    for field, version_id in FieldBest.objects.order_by("field").values_list("field", "version_id"):
        try:
            bundle = cache.get(version_id).loaded.bundle
            source = latest_source()
            slot = source.now() // bundle.window_seconds * bundle.window_seconds
            run = services.forecast_run_create(field=field, origin=slot, version_id=version_id,
                                               cells=[int(c) for c in source.cells()],
                                               chunk_cells=settings.FORECAST_CHUNK_CELLS)
        except DomainError as error:
            logger.warning("forecast tick: %s: %s", field, error.message)
            done.append(f"{field}: {error.message}")
            continue
        if run is None:
            done.append(f"{field}: slot {slot} already claimed")
            continue
        chunk_ids = list(run.chunk_rows.order_by("index").values_list("id", flat=True))
        transaction.on_commit(partial(_queue_chunks, chunk_ids))
        done.append(f"{field}: {run.cells} cells in {run.chunks} chunks")
    return done


def _queue_chunks(chunk_ids: list[int]) -> None:
    from django_q.tasks import async_task

    for chunk_id in chunk_ids:
        async_task("inference.tasks.forecast_chunk", chunk_id, task_name=f"forecast-chunk-{chunk_id}")


def forecast_chunk(chunk_id: int) -> dict:
    """One chunk of a run: claim it, forecast its cells with the run's version, store, finish."""
    from core.errors import DomainError
    from inference import services
    from inference.batch import forecast_batch
    from inference.forecast_store import get_store
    from training.services import worker_id

    chunk = services.forecast_chunk_claim(chunk_id=chunk_id, worker=worker_id())
    if chunk is None:
        return {"chunk": chunk_id, "claimed": False}  # a duplicate task, or another worker has it
    try:
        result = forecast_batch(output_field=chunk.run.field, cells=chunk.cells, version_id=chunk.run.version_id)
        get_store().write(result)
    except DomainError as error:
        services.forecast_chunk_finish(chunk_id=chunk_id, forecasts=0, skipped=[], error=error.message)
        return {"chunk": chunk_id, "error": error.message}
    except Exception as error:
        services.forecast_chunk_finish(chunk_id=chunk_id, forecasts=0, skipped=[],
                                       error=f"{type(error).__name__}: {error}")
        raise
    services.forecast_chunk_finish(chunk_id=chunk_id, forecasts=len(result.forecasts),
                                   skipped=[(s.cell_id, s.reason) for s in result.skipped])
    return {"chunk": chunk_id, "forecasts": len(result.forecasts), "skipped": len(result.skipped)}


def prune_forecasts() -> dict:
    """Daily: stored forecasts (database store), latest rows and finished runs past retention."""
    from datetime import timedelta

    from django.utils import timezone

    from inference.forecast_store import prune
    from inference.models import ForecastRun

    pruned = prune()
    if settings.FORECAST_RETENTION_DAYS:
        before = timezone.now() - timedelta(days=settings.FORECAST_RETENTION_DAYS)
        pruned["runs"] = ForecastRun.objects.filter(created_at__lt=before).delete()[0]
    return pruned
