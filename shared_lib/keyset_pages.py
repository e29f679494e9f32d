"""Keyset-paged list use cases: the sort key a query's cursor names, and a page cut from limit + 1 rows."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from .errors import invalid
from .pagination import decode_cursor, encode_cursor

PageT = TypeVar("PageT", bound=BaseModel)


def cursor_key(cursor: str | None, types: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The sort key of the previous page's last row, or None on the first page; 400 `query.cursor` otherwise."""
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, types)
    except ValueError:
        # One answer for every kind of garbage: the client only needs to start again.
        raise invalid(["query", "cursor"], "invalid cursor; start again from the first page") from None


def page_of(rows: Sequence[Any], *, limit: int, item: type[BaseModel], page: type[PageT],
            key: Callable[[Any], tuple[Any, ...]]) -> PageT:
    """The first `limit` rows as `item`s; a row beyond them (the query asks for limit + 1) means a next page,
    whose cursor is the last item's `key`."""
    items = [item.model_validate(r, from_attributes=True) for r in rows[:limit]]
    next_cursor = encode_cursor(*key(items[-1])) if len(rows) > limit else None
    return page(items=items, next_cursor=next_cursor)
