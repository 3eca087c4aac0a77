"""Two roles, as Django groups: operators change things (train, evaluate, set best, cancel,
create and delete models); viewers only read. Superusers are operators."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

OPERATORS = "operators"
VIEWERS = "viewers"
ROLES = {"operator": OPERATORS, "viewer": VIEWERS}  # role name -> its group


def assign_role(user, role: str) -> None:
    """Give the user exactly this role (its group, and not the other role's)."""
    from django.contrib.auth.models import Group

    groups = {name: Group.objects.get_or_create(name=group)[0] for name, group in ROLES.items()}
    user.groups.remove(*(group for name, group in groups.items() if name != role))
    user.groups.add(groups[role])


def is_operator(user) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=OPERATORS).exists()


def operator_required(view):
    """For page actions: log in first; a viewer gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_operator(request.user):
            raise PermissionDenied("this needs the operators role")
        return view(request, *args, **kwargs)

    return wrapper
