"""Writes of the forecast schedule: runs (one per field and window slot) and their chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from inference.models import ForecastChunk, ForecastRun


def forecast_run_create(*, field: str, origin: int, version_id: int, cells: list[int],
                        chunk_cells: int) -> ForecastRun | None:
    """Claim (field, origin) and split its cells into chunks; None when another scheduler has it.
    The unique (field, origin) row is the claim: the loser's insert fails and it does nothing."""
    chunks = [cells[i:i + chunk_cells] for i in range(0, len(cells), chunk_cells)]
    try:
        with transaction.atomic():
            run = ForecastRun.objects.create(
                field=field, origin=datetime.fromtimestamp(origin, UTC), version_id=version_id, cells=len(cells),
                chunks=len(chunks), status=ForecastRun.Status.RUNNING if chunks else ForecastRun.Status.DONE,
                finished_at=None if chunks else timezone.now())
            ForecastChunk.objects.bulk_create([ForecastChunk(run=run, index=i, cells=[int(c) for c in chunk])
                                               for i, chunk in enumerate(chunks)])
    except IntegrityError:
        return None
    return run


def forecast_chunk_claim(*, chunk_id: int, worker: str) -> ForecastChunk | None:
    """queued → running with a conditional update; None when someone else has it (or it is done)."""
    claimed = ForecastChunk.objects.filter(id=chunk_id, status=ForecastChunk.Status.QUEUED).update(
        status=ForecastChunk.Status.RUNNING, worker=worker[:200], claimed_at=timezone.now(),
        attempts=F("attempts") + 1)
    if not claimed:
        return None
    return ForecastChunk.objects.select_related("run").get(id=chunk_id)


@transaction.atomic
def forecast_chunk_finish(*, chunk_id: int, forecasts: int, skipped: list[tuple[int, str]],
                          error: str = "") -> None:
    """running → done (or failed), counted into the run; the last chunk to finish ends the run."""
    status = ForecastChunk.Status.FAILED if error else ForecastChunk.Status.DONE
    updated = ForecastChunk.objects.filter(id=chunk_id, status=ForecastChunk.Status.RUNNING).update(
        status=status, forecasts=forecasts, skipped=[[int(c), r] for c, r in skipped], error=error[:2000],
        finished_at=timezone.now())
    if not updated:
        return
    run_id = ForecastChunk.objects.filter(id=chunk_id).values_list("run_id", flat=True).get()
    # Lock the run: two last chunks finishing at once must not both see the other still open.
    ForecastRun.objects.select_for_update().filter(id=run_id).values_list("id", flat=True).get()
    ForecastRun.objects.filter(id=run_id).update(forecasts=F("forecasts") + forecasts,
                                                 skipped=F("skipped") + len(skipped))
    if error:
        ForecastRun.objects.filter(id=run_id).update(error=error[:2000])
    open_chunks = ForecastChunk.objects.filter(
        run_id=run_id, status__in=[ForecastChunk.Status.QUEUED, ForecastChunk.Status.RUNNING]).exists()
    if not open_chunks:
        failed = ForecastChunk.objects.filter(run_id=run_id, status=ForecastChunk.Status.FAILED).exists()
        ForecastRun.objects.filter(id=run_id, status=ForecastRun.Status.RUNNING).update(
            status=ForecastRun.Status.FAILED if failed else ForecastRun.Status.DONE, finished_at=timezone.now())


def forecast_chunks_recover(*, lease_seconds: int, max_attempts: int) -> tuple[list[int], list[str]]:
    """Chunks a dead worker left: running past the lease (its worker was killed mid-chunk) go back
    to queued, or fail once they had `max_attempts` claims; queued past the lease (a dead cluster
    took the task) are handed to the broker again, once per lease. Returns the chunk ids to queue
    and a line each. Safe to repeat: a chunk is claimed by a conditional update and its
    forecasts are stored by key."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=lease_seconds)
    requeue, lines = [], []
    for chunk in ForecastChunk.objects.filter(status=ForecastChunk.Status.RUNNING,
                                              claimed_at__lt=cutoff).select_related("run"):
        if chunk.attempts >= max_attempts:
            forecast_chunk_finish(chunk_id=chunk.id, forecasts=0, skipped=[], error=(
                f"its worker ({chunk.worker}) stopped while forecasting it, {chunk.attempts} times: not queued again"))
            lines.append(f"{chunk}: failed after {chunk.attempts} claims")
        elif ForecastChunk.objects.filter(id=chunk.id, status=ForecastChunk.Status.RUNNING,
                                          claimed_at=chunk.claimed_at).update(
                status=ForecastChunk.Status.QUEUED, worker="", claimed_at=None, queued_at=now):
            requeue.append(chunk.id)
            lines.append(f"{chunk}: its worker ({chunk.worker}) stopped; queued again")
    for chunk in ForecastChunk.objects.filter(status=ForecastChunk.Status.QUEUED,
                                              queued_at__lt=cutoff).select_related("run"):
        if ForecastChunk.objects.filter(id=chunk.id, status=ForecastChunk.Status.QUEUED,
                                        queued_at=chunk.queued_at).update(queued_at=now):
            requeue.append(chunk.id)
            lines.append(f"{chunk}: not taken within {lease_seconds} s; queued again")
    return requeue, lines
