"""Start-up recovery run by every worker before it takes work (and by a periodic task)."""

from __future__ import annotations

from training.services import training_recover


def recover() -> list[str]:
    """Heal state a dead worker may have left behind; returns a line per thing it fixed."""
    return training_recover()
