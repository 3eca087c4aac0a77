"""django-q2 entry points of the registry."""

from __future__ import annotations

from registry import mirror


def mirror_flush() -> dict:
    result = mirror.flush()
    return {"applied": result.applied, "pending": result.pending, "error": result.error}
