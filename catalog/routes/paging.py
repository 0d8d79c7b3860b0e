"""Spec pagination over sorted listings: the page token is the last name already returned."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Annotated

from fastapi import Query

from vxp.catalog.errors import BadRequest

DEFAULT_PAGE_SIZE = 100
# pageSize is an upper bound the server may undercut; this keeps a client's 10**40 from
# overflowing islice (a 500) and one page's memory bounded
MAX_PAGE_SIZE = 1000

# the query parameters of a listing route
PageToken = Annotated[str | None, Query(alias="pageToken")]
PageSize = Annotated[int | None, Query(alias="pageSize")]


def page(names: Iterable[str], token: str | None, size: int | None) -> tuple[list[str], str | None]:
    """One page of ``names`` (already positioned after ``token``), and the next page's token.

    Without a token the spec wants every result in one response. The next token is the last
    name of the page; None when there is no further page.

    Args:
        size: the client's ``pageSize``; at most 1000 are returned, 100 when it sends none.

    Raises:
        BadRequest: ``size`` is below 1.
    """
    if size is not None and size < 1:
        raise BadRequest("pageSize must be at least 1")
    if token is None:
        return list(names), None
    limit = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    items = list(islice(names, limit + 1))
    if len(items) > limit:
        return items[:limit], items[limit - 1]
    return items, None


def after(names: Iterable[str], token: str | None) -> Iterator[str]:
    """Skip names up to and including ``token``, for listings that cannot start mid-way."""
    for name in names:
        if not token or name > token:
            yield name
