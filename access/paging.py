"""Limit/offset paging for list endpoints: `{items, count, limit, offset}` in a stable order."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.db.models import QuerySet
from ninja import Field, Schema

T = TypeVar("T")
MAX_LIMIT = 500


class PageParams(Schema):
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description=f"items per page (1-{MAX_LIMIT})")
    offset: int = Field(0, ge=0, le=10**9, description="items to skip")


class Page(Schema, Generic[T]):
    items: list[T]
    count: int
    limit: int
    offset: int


def page_of(queryset: QuerySet, params: PageParams) -> dict:
    """One COUNT and one page query (plus the queryset's own prefetches)."""
    return {
        "items": list(queryset[params.offset: params.offset + params.limit]),
        "count": queryset.count(),
        "limit": params.limit,
        "offset": params.offset,
    }
