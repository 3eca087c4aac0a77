"""API authentication: a bearer token, an X-API-Key header, or a Django session (with CSRF).

Writes need one of them (401 otherwise) and the operators role (403 for viewers). Reads need
one of them too, unless API_PUBLIC_READS=true.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, APIKeyHeader, HttpBearer
from ninja.utils import check_csrf

from access.models import ApiToken, hash_token
from access.roles import is_operator
from core.errors import Forbidden
from core.types import Actor


def user_for_token(token: str | None):
    if not token:
        return None
    row = ApiToken.objects.select_related("user").filter(key_hash=hash_token(token)).first()
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):  # one write per 5 min
        ApiToken.objects.filter(id=row.id).update(last_used_at=now)
    return row.user


def _allowed(user, write: bool):
    if user is not None and write and not is_operator(user):
        raise Forbidden(f"user {user.get_username()} may only read: changes need the operators role")
    return user


class BearerToken(HttpBearer):
    def __init__(self, write: bool = False) -> None:
        super().__init__()
        self.write = write

    def authenticate(self, request, token):
        return _allowed(user_for_token(token), self.write)


class ApiKeyHeader(APIKeyHeader):
    param_name = "X-API-Key"

    def __init__(self, write: bool = False) -> None:
        super().__init__()
        self.write = write

    def authenticate(self, request, key):
        return _allowed(user_for_token(key), self.write)


class Session(APIKeyCookie):
    """The Django session of a logged-in user. CSRF is checked only once the user is known,
    so an anonymous caller gets 401 (not a CSRF 403)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, write: bool = False) -> None:
        super().__init__(csrf=False)
        self.write = write

    def authenticate(self, request, key):
        if not request.user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie")
        return _allowed(request.user, self.write)


def public_reads(request):
    """Lets reads through without credentials when API_PUBLIC_READS is on."""
    if settings.API_PUBLIC_READS:
        return request.user if request.user.is_authenticated else AnonymousUser()
    return None


WRITE_AUTH = [BearerToken(write=True), ApiKeyHeader(write=True), Session(write=True)]
READ_AUTH = [public_reads, BearerToken(), ApiKeyHeader(), Session()]


def caller(request: HttpRequest) -> Actor:
    """The authenticated user behind a request (token or session), or None."""
    auth = getattr(request, "auth", None)  # set by ninja's authentication
    user = auth if hasattr(auth, "is_authenticated") else request.user
    return user if user is not None and user.is_authenticated else None
