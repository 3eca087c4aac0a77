"""The append-only audit row every state change writes (one concrete table per domain)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.db import models
from django.utils import timezone

from core.types import Actor

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Event(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, blank=True, help_text="user name, or the process that acted")
    kind = models.CharField(max_length=64, db_index=True)
    message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}: {self.message}"


def actor_name(user: Actor) -> str:
    """What an event records as its actor: the user's name, or 'system' for processes."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return user.get_username()


def user_row(user: Actor) -> User | None:
    """The user a foreign key keeps (created_by, requested_by): a saved, signed-in user; None for
    a process or an anonymous caller."""
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    return cast("User", user)
