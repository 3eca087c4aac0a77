"""Run the django-q2 cluster so that SIGTERM stops it within a grace period.

Why django-q2's own `qcluster` hangs on `kill -TERM -- -PGID` (what compose and systemd send):
its sentinel process resets SIGTERM to the default action, so it dies at once while it sleeps
in its stop event's `wait()`; the main process's handler then calls `stop_event.set()`, whose
multiprocessing condition waits for every registered sleeper to wake, the dead sentinel
included: a futex wait that never ends, with the sentinel left defunct. Its workers die the same
way, leaving a running job `running`. (SIGINT "works" because the sentinel ignores it, but then
waits for the running task to finish, up to an hour.)

Here:
1. The sentinel, and the pusher and monitor it forks, ignore SIGTERM; each task worker sets
   `core.shutdown`'s flag on SIGTERM instead of dying (a django-q2 `post_spawn` receiver).
2. The main process turns SIGTERM/SIGINT into: send SIGTERM to every process of the cluster
   (whether or not the signal reached them already), then set the stop event from a helper
   thread (it can never block the main process). The sentinel stops the pusher, lets the
   workers finish (a training job fails at its next epoch or request with "the worker was
   stopped while it ran; train again"), saves their results and exits.
3. Whatever has not exited after `WORKER_STOP_GRACE_SECONDS` is killed (SIGKILL), and the jobs
   its workers were running are failed with the same message, their training locks released.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from django import db
from django.dispatch import receiver
from django_q import cluster as django_q_cluster
from django_q.signals import post_spawn

from core import processes, shutdown

log = logging.getLogger(__name__)


class _Sentinel(django_q_cluster.Sentinel):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, start=False, **kwargs)  # sets SIGTERM back to the default
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the pusher, monitor and workers
        self.start()


class _Cluster(django_q_cluster.Cluster):
    def start(self) -> int:
        # django-q2 has no hook for its sentinel's signal dispositions: swap the class it builds.
        original, django_q_cluster.Sentinel = django_q_cluster.Sentinel, _Sentinel
        try:
            return super().start()
        finally:
            django_q_cluster.Sentinel = original


@receiver(post_spawn)
def _worker_spawned(sender, proc_name, **kwargs) -> None:
    """In each new task worker: SIGTERM asks the running task to stop."""
    shutdown.install_handler()


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def run(*, grace_seconds: float) -> None:
    """Start the cluster and return once it has stopped (a stop signal, or its sentinel died)."""
    stop = threading.Event()
    # The forked processes inherit open database sockets and close them, breaking ours: reconnect later.
    db.connections.close_all()
    cluster = _Cluster()  # installs django-q2's handlers; ours replace them
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    cluster.start()
    # Remember the cluster's processes: if the sentinel dies, its workers are no longer ours to find.
    known: set[int] = set()
    while not stop.wait(1.0):
        known = set(processes.descendants(os.getpid()))
        if not cluster.sentinel.is_alive():
            log.error("the django-q2 sentinel exited (code %s); stopping the worker", cluster.sentinel.exitcode)
            break
    _stop(cluster, grace_seconds=grace_seconds, known=known)


def _stop(cluster: _Cluster, *, grace_seconds: float, known: set[int]) -> None:
    deadline = time.monotonic() + grace_seconds
    # Only processes still in our group: a pid remembered a second ago may belong to someone else now.
    members = sorted((known & set(processes.group_members(os.getpgrp()))) | set(processes.descendants(os.getpid())))
    log.info("stopping the worker: %d processes, %g s grace", len(members), grace_seconds)
    _signal_all(members, signal.SIGTERM)  # workers: stop the running task; the others ignore it
    if cluster.sentinel.is_alive():
        # set() waits for the sentinel to wake; should it die meanwhile, only this thread waits.
        threading.Thread(target=cluster.stop_event.set, daemon=True, name="stop-cluster").start()
        cluster.sentinel.join(max(0.0, deadline - time.monotonic()))
    left = sorted({pid for pid in members if processes.alive(pid)} | set(processes.descendants(os.getpid())))
    if left:
        log.warning("killing %d processes still running after the %g s grace period", len(left), grace_seconds)
        _signal_all(left, signal.SIGKILL)
        cluster.sentinel.join(5)
        _fail_jobs_of(left)
    log.info("the worker has stopped")


def _fail_jobs_of(pids: list[int]) -> None:
    from training.services import training_jobs_fail_of_workers, worker_id

    host_label = worker_id().rpartition(":")[0]  # the killed workers share this process's host and label
    for line in training_jobs_fail_of_workers(workers=[f"{host_label}:{pid}" for pid in pids],
                                              error=f"Training was interrupted: {shutdown.STOPPED}."):
        log.warning(line)

