"""Typed, strict reads of environment variables for settings.

django-environ parses URLs and lists; these wrappers make every bad value fail at start-up
with an `ImproperlyConfigured` that names the variable (django-environ alone would raise a bare
ValueError, or silently read "maybe" as False).
"""

from __future__ import annotations

import ipaddress
import os
import re
from builtins import float as _float, int as _int, list as _list, str as _str
from collections.abc import Mapping, Sequence
from typing import Any, overload

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "pgsql")
_RATE = re.compile(r"^(\d+)/(\d*)(s|sec|m|min|h|hour|d|day)$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class EnvReader:
    """Reads one environment mapping (os.environ by default, any dict in tests).

    The methods are named after the types they return, which hides the builtins inside the class
    body: annotations there use the `_str`, `_int`… aliases."""

    def __init__(self, environ_map: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ_map is None else environ_map
        self._env = environ.Env()
        self._env.ENVIRON = self.environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _fail(self, name: str, problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name}={self.environ.get(name)!r}: {problem}")

    @overload
    def str(self, name: _str, default: _str, *, choices: Sequence[_str] | None = None) -> _str: ...
    @overload
    def str(self, name: _str, default: None = None, *, choices: Sequence[_str] | None = None) -> _str | None: ...
    def str(self, name: _str, default: _str | None = None, *, choices: Sequence[_str] | None = None) -> _str | None:
        value = self._raw(name)
        if value is None:
            return default
        if choices is not None and value not in choices:
            raise self._fail(name, f"must be one of {', '.join(choices)}")
        return value

    def int(self, name: _str, default: _int, *, min: _int | None = None, max: _int | None = None) -> _int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self._fail(name, "must be an integer") from None
        self._check_range(name, number, min, max)
        return number

    def float(self, name: _str, default: _float, *, min: _float | None = None, max: _float | None = None) -> _float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self._fail(name, "must be a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise self._fail(name, "must be a finite number")
        self._check_range(name, number, min, max)
        return number

    def bool(self, name: _str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self._fail(name, "must be true or false (also accepted: 1/0, yes/no, on/off)")

    def list(self, name: _str, default: Sequence[_str] = ()) -> _list[_str]:
        value = self._raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def cache(self, name: _str, default: _str) -> dict[_str, Any]:
        url = self._raw(name) or default
        try:
            return self._env.cache_url_config(url)
        except Exception as error:  # django-environ raises several types for a bad URL
            raise self._fail(name, f"not a cache URL ({error})") from None

    def rate(self, name: _str, default: _str) -> tuple[_int, _int]:
        """'10/m', '100/h', '5/30s' → (attempts, seconds)."""
        value = self._raw(name) or default
        match = _RATE.match(value)
        count, seconds = (int(match[1]), int(match[2] or 1) * _PERIOD_SECONDS[match[3][0]]) if match else (0, 0)
        if count < 1 or seconds < 1:
            raise self._fail(name, "must be a rate such as 10/m, 100/h or 5/30s (attempts per period)")
        return count, seconds

    def networks(self, name: _str, default: Sequence[_str] = ()) -> _list[_str]:
        """A comma-separated list of addresses or CIDR networks (IPv4 or IPv6)."""
        items = self.list(name, default)
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise self._fail(name, f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return items

    def int_list(self, name: _str) -> _list[_int]:
        items = self.list(name)
        if not all(item.lstrip("-").isdigit() for item in items):
            raise self._fail(name, "must be a comma-separated list of integers")
        return [int(item) for item in items]

    def database(self, name: _str, default: _str) -> dict[_str, Any]:
        url = self._raw(name) or default
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in _DATABASE_SCHEMES:
            raise self._fail(name, "must be a sqlite:/// or postgresql:// URL")
        config = self._env.db_url_config(url)
        if not config.get("NAME"):
            raise self._fail(name, "names no database")
        return config

    @overload
    def url(self, name: _str, default: _str, *, schemes: Sequence[_str]) -> _str: ...
    @overload
    def url(self, name: _str, default: None = None, *, schemes: Sequence[_str]) -> _str | None: ...
    def url(self, name: _str, default: _str | None = None, *, schemes: Sequence[_str]) -> _str | None:
        value = self._raw(name)
        if value is None:
            return default
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in schemes:
            raise self._fail(name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return value.rstrip("/") if scheme in ("http", "https") else value

    def _check_range(self, name: _str, number: _float, low: _float | None, high: _float | None) -> None:
        if low is not None and number < low:
            raise self._fail(name, f"must be at least {low}")
        if high is not None and number > high:
            raise self._fail(name, f"must be at most {high}")
