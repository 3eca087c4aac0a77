"""Types the apps share in their signatures: ids as they arrive (a UUID, or its text from a URL,
a task's arguments or JSON), the acting user, and JSON payloads."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeAlias

ModelId: TypeAlias = uuid.UUID | str  # a ModelConfig's primary key
JobId: TypeAlias = uuid.UUID | str  # a TrainingJob's primary key
Payload: TypeAlias = dict[str, Any]  # a JSON object (event details, outbox payloads, API bodies)

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    # Who acts: a signed-in user (request.user, an API token's owner), or None for a process.
    Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None
else:
    Actor = Any
