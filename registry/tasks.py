"""django-q2 entry points of the registry."""

from __future__ import annotations

from registry import mirror, services


def mirror_flush() -> dict:
    result = mirror.flush()
    return {"applied": result.applied, "pending": result.pending, "error": result.error}


def bundles_delete(model_id: str) -> int:
    return services.model_bundles_delete(model_id=model_id)
