"""Crash leftovers: bundles nobody will serve, MLflow runs nobody will finish.

1. Orphan bundles: keys under `models/` that no `ModelVersion` references and that no active
   (queued or running) job will claim (a job writes `models/<model>/<job id>….pt` before it
   records its version). Interrupted jobs, deleted models and failed clean-ups leave them.
   Storage is listed first, then active jobs, then referenced keys: a job that completes in
   between is seen either as active or as referenced, never as neither.
2. Abandoned runs: MLflow runs of cellwise experiments still RUNNING whose job is not active
   and has no run waiting in the mirror's outbox (written by older versions that logged
   during the job, or by a process killed mid-run) are ended KILLED. This runs under the
   mirror's lock, so a flush logging a run right now is never mistaken for one.

`reconcile()` does both (the `leftovers-reconcile` schedule and `manage.py
reconcile_leftovers`); recovery sweeps the models of the jobs it fails.
"""

from __future__ import annotations

import logging
import posixpath

from django.conf import settings

from core.errors import DomainError
from core.locks import only_one
from registry import bundle_store, mlflow_gateway
from registry.models import MlflowOutbox, ModelVersion
from training.models import ACTIVE, TrainingJob
from training.tracking import JOB_TAG

log = logging.getLogger(__name__)


def _job_of(key: str) -> str:
    """The job id a bundle key was written for ('' for keys no job wrote)."""
    name = posixpath.basename(key)
    return name[:36] if len(name) >= 36 and name[8] == name[13] == "-" else ""


def orphan_bundles(prefix: str = bundle_store.ROOT) -> list[str]:
    stored = bundle_store.keys(prefix)  # first: see the module docstring
    active = {str(j) for j in TrainingJob.objects.filter(status__in=ACTIVE).values_list("id", flat=True)}
    referenced = set(ModelVersion.objects.filter(bundle_path__startswith=prefix).values_list("bundle_path", flat=True))
    return [key for key in stored if key not in referenced and _job_of(key) not in active]


def bundles_sweep(*, model_id=None, dry_run: bool = False) -> list[str]:
    """Remove orphan bundles (of one model, or all); a line per bundle. DependencyDown when the
    storage cannot be reached."""
    prefix = bundle_store.model_prefix(model_id) if model_id else bundle_store.ROOT
    lines = []
    for key in orphan_bundles(prefix):
        if not dry_run:
            bundle_store.delete(key)
        lines.append(f"{'would remove' if dry_run else 'removed'} orphan bundle {key}")
    return lines


def abandoned_runs_end(*, dry_run: bool = False) -> list[str]:
    with only_one("mlflow-mirror") as held:
        if not held:
            return ["MLflow runs: the mirror is flushing; checked next time"]
        client = mlflow_gateway.client()
        prefix = settings.MLFLOW_EXPERIMENT_PREFIX
        experiments = [e.experiment_id for e in client.search_experiments(filter_string=f"name LIKE '{prefix}/%'")]
        if not experiments:
            return []
        running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000)
        active = {str(j) for j in TrainingJob.objects.filter(status__in=ACTIVE).values_list("id", flat=True)}
        queued = {row["job_id"] for row in MlflowOutbox.objects.filter(
            operation=MlflowOutbox.Operation.LOG_TRAINING_RUN).values_list("payload", flat=True)}
        lines = []
        for run in running:
            job_id = run.data.tags.get(JOB_TAG, "")
            if job_id in active or job_id in queued:
                continue
            if not dry_run:
                client.set_terminated(run.info.run_id, "KILLED")
            lines.append(f"{'would end' if dry_run else 'ended'} MLflow run {run.info.run_id} of job "
                         f"{job_id or '?'} as KILLED (left running by a process that died)")
        return lines


def reconcile(*, dry_run: bool = False) -> list[str]:
    """Both sweeps; a dependency that is down is reported and skipped (the schedule retries)."""
    lines = []
    for name, sweep in (("bundles", bundles_sweep), ("MLflow runs", abandoned_runs_end)):
        try:
            lines += sweep(dry_run=dry_run)
        except Exception as error:  # storage or MLflow down: say so, try again next time
            message = error.message if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
            log.warning("reconcile of %s skipped: %s", name, message)
            lines.append(f"{name}: skipped, {message[:300]}")
    return lines
