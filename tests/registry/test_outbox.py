"""The MLflow outbox: rows are written with the registry change, one flush task per commit."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_q.models import OrmQ

from registry import services
from registry.models import MlflowOutbox

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_flush_task_per_transaction_however_many_rows(make_model):
    model = make_model()
    tasks_before = OrmQ.objects.count()
    with transaction.atomic():
        for n in range(3):
            services.mirror_enqueue(operation=MlflowOutbox.Operation.SET_MODEL_TAGS, model_id=model.id,
                                    payload={"tags": {"n": n}})
    assert MlflowOutbox.objects.filter(operation=MlflowOutbox.Operation.SET_MODEL_TAGS).count() == 3
    assert OrmQ.objects.count() - tasks_before == 1


def test_a_rolled_back_change_leaves_no_row_and_no_task(make_model):
    model = make_model()
    tasks_before, rows_before = OrmQ.objects.count(), MlflowOutbox.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.mirror_enqueue(operation=MlflowOutbox.Operation.DELETE_MODEL, model_id=model.id)
        raise RuntimeError("the registry change failed")
    assert (OrmQ.objects.count(), MlflowOutbox.objects.count()) == (tasks_before, rows_before)
