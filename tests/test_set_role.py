"""manage.py set_role: the role decides what the API lets a user do."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from access.models import ApiToken
from access.roles import is_operator
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def set_role(*args: str) -> str:
    out = StringIO()
    call_command("set_role", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_viewer_made_operator_may_train_and_back(client, viewer, make_model):
    api = Api(client, ApiToken.issue(user=viewer, name="tests")[1])
    model = make_model()
    assert api.post("/training/train", {"model_id": str(model.id)}).status_code == 403

    assert "bob is now an operator" in set_role("bob", "operator")
    assert api.post("/training/train", {"model_id": str(model.id)}).status_code == 202
    assert is_operator(get_user_model().objects.get(username="bob"))

    set_role("bob", "viewer")
    bob = get_user_model().objects.get(username="bob")
    assert not is_operator(bob) and [g.name for g in bob.groups.all()] == ["viewers"]  # one role at a time


def test_create_prints_a_password_that_logs_in(client):
    out = set_role("carol", "viewer", "--create")
    password = out.split("password: ")[1].split()[0]
    assert client.login(username="carol", password=password)
    assert [g.name for g in get_user_model().objects.get(username="carol").groups.all()] == ["viewers"]


def test_an_unknown_user_or_role_is_refused():
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        set_role("nobody", "operator")
    with pytest.raises(CommandError, match="invalid choice"):
        set_role("nobody", "admin")
