"""One way for a page or an admin action to call a service and tell the user how it went.

Services raise domain errors with a message meant for the caller; the API maps them to HTTP in
`mlops_site.api`, the pages and the admin show them as a message through `call_service`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.http import HttpRequest

from core.errors import DomainError

T = TypeVar("T")


def call_service(request: HttpRequest, action: Callable[[], T], *, success: str | Callable[[T], str] | None = None,
                 about: str = "", error_level: int = messages.ERROR) -> bool:
    """Run `action`; show `success` (or what it makes of the result) when it returns, or the
    domain error's message when it raises one (prefixed by `about: `, e.g. the field a
    bulk admin action was working on). True when it succeeded. Other exceptions propagate."""
    try:
        result = action()
    except DomainError as error:
        messages.add_message(request, error_level, f"{about}: {error.message}" if about else error.message)
        return False
    if success is not None:
        messages.success(request, success(result) if callable(success) else success)
    return True
