"""Start-up recovery run by every worker before it takes work (and by a periodic task)."""

from __future__ import annotations


def recover() -> list[str]:
    """Heal state a dead worker may have left behind; returns a line per thing it fixed."""
    return []
