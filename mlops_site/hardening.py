"""What production refuses to run with."""

from __future__ import annotations

PLACEHOLDER_MARKERS = ("change-me", "changeme", "insecure", "secret-key", "your-secret")
MIN_SECRET_LENGTH = 40


def production_problems(*, debug: bool, secret_key: str, allowed_hosts: list[str]) -> list[str]:
    problems = []
    if debug:
        problems.append("DJANGO_DEBUG must be false")
    if not secret_key:
        problems.append("DJANGO_SECRET_KEY must be set")
    elif len(secret_key) < MIN_SECRET_LENGTH or any(m in secret_key.lower() for m in PLACEHOLDER_MARKERS):
        problems.append(f"DJANGO_SECRET_KEY looks like a placeholder (use {MIN_SECRET_LENGTH}+ random characters)")
    if "*" in allowed_hosts or not allowed_hosts:
        problems.append('DJANGO_ALLOWED_HOSTS must name the hosts (not "*")')
    return problems
