"""manage.py train <model name or id> [--lookback SECONDS] [--wait | --here]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from registry.models import ModelConfig
from training import selectors, services
from training.models import TERMINAL


class Command(BaseCommand):
    help = ("Queue a training job for a model; --wait follows it with a progress bar (cells read, then epochs), "
            "--here runs it in this process and follows it the same way.")

    def add_arguments(self, parser):
        parser.add_argument("model", help="model name or id")
        parser.add_argument("--lookback", type=int, default=None, help="seconds of history to train on")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true", help="follow the job a worker runs")
        mode.add_argument("--here", action="store_true", help="run the job in this process (no worker needed)")

    def handle(self, *args, model: str, lookback: int | None, wait: bool, here: bool, **options):
        found = ModelConfig.objects.filter(name=model).first()
        if found is None:
            try:
                found = ModelConfig.objects.filter(id=model).first()
            except Exception:  # not a UUID
                found = None
        if found is None:
            raise CommandError(f"no model named or with id {model!r}")
        try:
            job = services.training_job_create(model=found, lookback_seconds=lookback, reason="command")
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"queued job {job.id} for {found.name}")
        if here:
            self._run_here(job.id)
        elif wait:
            self._follow(job.id)
        job = selectors.job_get(job.id)
        if job.status in TERMINAL:
            self.stdout.write(f"job {job.id}: {job.status} {job.error_message}".rstrip())
            if job.status != "completed":
                raise CommandError(f"training {job.status}")

    def _run_here(self, job_id) -> None:
        """Run the job on a thread of this process and follow it here, as --wait does."""
        import threading

        from django.db import connection

        from core import shutdown
        from training.tasks import run_training_job

        def work() -> None:
            try:
                run_training_job(str(job_id))
            finally:
                connection.close()  # the thread's own connection

        worker = threading.Thread(target=work, name=f"train-{job_id}")
        worker.start()
        try:
            self._follow(job_id, alive=worker.is_alive)
        except KeyboardInterrupt:
            shutdown.request()  # the job fails at its next chunk or epoch, lock released
            raise
        finally:
            worker.join()

    def _follow(self, job_id, alive=lambda: True) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TextColumn("{task.fields[loss]}"), TimeElapsedColumn()) as progress:
            bar = progress.add_task("queued", total=None, loss="")
            while True:
                job = selectors.job_get(job_id)
                if job.status == "running" and job.phase in ("survey", "fetch"):  # cells read of the total
                    progress.update(bar, description=job.get_phase_display(), completed=job.cells_read,
                                    total=job.cells_to_read or None, loss="cells")
                else:
                    loss = f"val loss {job.val_loss:.4f}" if job.val_loss is not None else ""
                    progress.update(bar, description=job.status, completed=job.epoch,
                                    total=job.total_epochs or None, loss=loss)
                if job.status in TERMINAL or not alive():
                    return
                time.sleep(0.5)
