"""Domain errors. Services raise these; `mlops_site.api` maps them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a message meant for the caller, plus optional structured details."""

    status_code = 400
    retry_after: int | None = None  # seconds; sent as the Retry-After header when set

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    """Authenticated, but the caller's role does not allow it."""

    status_code = 403


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    """Input that is well-formed but not acceptable (unknown fields, out-of-range values)."""

    status_code = 422


class TooManyRequests(DomainError):
    """Over a rate limit; `retry_after` says when the caller may try again."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class DependencyDown(DomainError):
    """A service we depend on (data source, MLflow, storage) cannot be reached or failed."""

    status_code = 503

    def __init__(self, dependency: str, message: str, **details: Any) -> None:
        super().__init__(f"{dependency} is unavailable: {message}", dependency=dependency, **details)
        self.dependency = dependency


class UpstreamRejected(DomainError):
    """A dependency answered, but refused our request (a 4xx from an upstream API)."""

    status_code = 502

    def __init__(self, dependency: str, message: str, **details: Any) -> None:
        super().__init__(f"{dependency} rejected the request: {message}", dependency=dependency, **details)
        self.dependency = dependency


# KPI field names as the data sources spell them; used to validate field path and query
# parameters before they reach a database (NUL bytes and the like are refused with a 422).
FIELD_NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
