"""Times a caller sends (query parameters), made comparable with what the database holds."""

from __future__ import annotations

from datetime import UTC, datetime

from core.errors import Invalid


def as_utc(value: datetime | None, name: str) -> datetime | None:
    """The instant in UTC: a time without an offset is UTC. Converted here, not by the database:
    PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 and Python allow (a 500 before)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise Invalid(f"{name} {value.isoformat()} is out of range: in UTC it falls outside years 1–9999") from None
