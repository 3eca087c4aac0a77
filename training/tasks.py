"""django-q2 entry points for training. They take ids and call services."""

from __future__ import annotations


def run_training_job(job_id: str) -> str:
    from core import shutdown

    if shutdown.requested():  # a stopping worker takes no new job; the next start queues it again
        return "not started: the worker is stopping"
    import torch

    # One torch thread per worker process: two workers with 2 threads each ran ~16x slower.
    torch.set_num_threads(1)
    from training import pipeline

    return pipeline.run(job_id)


def recover() -> list[str]:
    from training.services import training_recover

    return training_recover()


def reconcile_leftovers() -> list[str]:
    from training.cleanup import reconcile

    return reconcile()
