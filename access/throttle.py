"""Attempt limits for signing in (the token endpoint and the login page), one definition.

Each attempt counts against every key it names (the client address and the user name). A key's
window opens at its first attempt and lasts the rate's period; counts use the cache's atomic
add/incr, so with CACHE_URL on Redis they are shared by every process and machine. Over the
limit on any key, the attempt is refused before the password is checked: rotating addresses
does not help against one account, nor rotating user names from one address.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.core.cache import cache

from core.errors import TooManyRequests


def _count(key: str, seconds: int, now: float) -> int:
    """This attempt's number in the key's window (1 opens a new window)."""
    if cache.add(f"{key}:n", 1, timeout=seconds):
        cache.set(f"{key}:opened", now, timeout=seconds)
        return 1
    try:
        return cache.incr(f"{key}:n")
    except ValueError:  # the window closed between add and incr
        return _count(key, seconds, now)


def attempt(scope: str, rate: tuple[int, int], **keys: str) -> None:
    """Count one attempt of `scope` against each key; raise TooManyRequests when any is over
    `rate` = (attempts, seconds)."""
    limit, seconds = rate
    now = time.time()
    over, reopens = [], now
    for kind, value in keys.items():
        key = f"throttle:{scope}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"  # safe for any text
        if _count(key, seconds, now) > limit:
            over.append(kind)
            reopens = max(reopens, cache.get(f"{key}:opened", now) + seconds)
    if over:
        retry_after = max(1, math.ceil(reopens - now))
        which = " and ".join({"address": "from this address", "user": "for this user name"}.get(k, k) for k in over)
        raise TooManyRequests(f"too many sign-in attempts {which} (at most {limit} in {seconds} s); "
                              f"try again in {retry_after} s", retry_after=retry_after)
