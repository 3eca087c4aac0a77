"""POST /v1/auth/token: trade a user name and password for an API token (rate limited)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from ninja import Field, Router, Schema, Status

from access import throttle
from access.clients import client_address
from access.models import ApiToken
from access.responses import errors
from core.errors import DomainError

router = Router(tags=["auth"])


class Unauthorized(DomainError):
    status_code = 401


class TokenIn(Schema):
    username: str = Field(max_length=150)
    password: str = Field(max_length=200)
    name: str = Field("api", max_length=100, description="a label to recognise the token by")


class TokenOut(Schema):
    token: str = Field(description="shown once; only its hash is stored")
    name: str
    prefix: str


@router.post("/token", response={201: TokenOut, **errors(400, 401, 422, 429, 503)}, auth=None)
def issue_token(request, body: TokenIn):
    """At most TOKEN_RATE_LIMIT attempts per client address and per user name (429 beyond,
    with Retry-After)."""
    throttle.attempt("token", settings.TOKEN_RATE_LIMIT, address=client_address(request), user=body.username)
    user = authenticate(request, username=body.username, password=body.password)
    if user is None or not user.is_active:
        raise Unauthorized("wrong user name or password")
    row, token = ApiToken.issue(user=user, name=body.name)
    return Status(201, {"token": token, "name": row.name, "prefix": row.prefix})
