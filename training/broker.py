"""What the django-q2 broker still holds for training jobs.

Start-up recovery queues a `queued` job again only when its task is no longer waiting in the
broker: a task that a dead cluster took off the queue is lost (Redis) or hidden until the
broker's retry time, over an hour (ORM); one still waiting (a job `manage.py bootstrap --demo`
queued a moment ago) would only run twice.
"""

from __future__ import annotations

from django.utils import timezone

TRAINING_TASK = "training.tasks.run_training_job"


def _waiting_packages() -> list:
    """The signed task packages waiting in the broker, not yet taken by any cluster."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import OrmQ

    broker = get_broker()
    if Conf.ORM:  # a taken task stays in the table, locked until the retry time
        waiting = OrmQ.objects.using(Conf.ORM).filter(key=broker.list_key, lock__lte=timezone.now())
        return list(waiting.values_list("payload", flat=True))
    if Conf.REDIS or Conf.DJANGO_REDIS:  # a taken task is popped off the list
        return broker.connection.lrange(broker.list_key, 0, -1)
    raise NotImplementedError(f"cannot list the tasks of the {broker.info()} broker")


def waiting_job_ids() -> set[str]:
    """Ids of the training jobs whose task waits in the broker."""
    from django_q.signing import BadSignature, SignedPackage

    ids = set()
    for package in _waiting_packages():
        try:
            task = SignedPackage.loads(package)
        except BadSignature:
            continue  # not ours to read (another secret key)
        if task.get("func") == TRAINING_TASK and task.get("args"):
            ids.add(str(task["args"][0]))
    return ids
