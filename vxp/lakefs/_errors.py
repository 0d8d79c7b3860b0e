"""lakeFS's error answers as vxp's typed errors, chosen by HTTP status, never by message text."""

from __future__ import annotations

import httpx

from vxp.core.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServerError,
    Unauthorized,
    Unavailable,
    VxpError,
)

__all__ = [
    "LakeFSAlreadyExists",
    "LakeFSBadRequest",
    "LakeFSConflict",
    "LakeFSError",
    "LakeFSForbidden",
    "LakeFSGone",
    "LakeFSNotFound",
    "LakeFSPreconditionFailed",
    "LakeFSServerError",
    "LakeFSUnauthorized",
    "LakeFSUnreachable",
    "error_for",
]


class LakeFSError(VxpError):
    """lakeFS answered with an error status.

    Attributes:
        status: the HTTP status lakeFS answered (0 when no answer came).
        detail: lakeFS's own message, kept for logs; callers word the user's message.
    """

    def __init__(self, message: str, *, status: int, detail: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.detail = detail


class LakeFSBadRequest(LakeFSError, InvalidInput):
    """400: lakeFS refused the request's arguments (a malformed name or ref expression)."""


class LakeFSUnauthorized(LakeFSError, Unauthorized):
    """401: lakeFS does not know the key pair."""


class LakeFSForbidden(LakeFSError, Forbidden):
    """403: the caller may not do this (a protected branch, a read-only repository)."""


class LakeFSNotFound(LakeFSError, NotFound):
    """404: the repository, ref or object does not exist."""


class LakeFSConflict(LakeFSError, Conflict):
    """409: a merge conflict, or a name that exists already."""


class LakeFSGone(LakeFSError, NotFound):
    """410: an object whose data is gone (an imported file deleted at its origin)."""


class LakeFSPreconditionFailed(LakeFSError, PreconditionFailed):
    """412: a pre-commit or pre-merge hook refused the change, or a conditional write lost."""


class LakeFSServerError(LakeFSError, ServerError):
    """5xx: lakeFS failed while handling the request."""


class LakeFSUnreachable(LakeFSError, Unavailable):
    """The request may not have reached lakeFS, or its answer was lost (``status`` 0)."""


class LakeFSAlreadyExists(LakeFSConflict, AlreadyExists):
    """409 on a create: a repository, branch or tag of that name exists already."""


_BY_STATUS: dict[int, type[LakeFSError]] = {
    400: LakeFSBadRequest,
    401: LakeFSUnauthorized,
    403: LakeFSForbidden,
    404: LakeFSNotFound,
    409: LakeFSConflict,
    410: LakeFSGone,
    412: LakeFSPreconditionFailed,
}


def error_for(response: httpx.Response) -> LakeFSError:
    """The typed error for an error ``response`` of lakeFS's API (one status → class map).

    400, 401, 403, 404, 409, 410 and 412 have their own class, any other 5xx is
    :class:`LakeFSServerError`, anything else plain :class:`LakeFSError`. The message quotes
    lakeFS's own ``message`` field (or the first 500 characters of a non-JSON body).

    Returns:
        The error, not raised: callers raise it (``raise error_for(response)``).
    """
    try:
        body = response.json()
        detail = str(body.get("message", response.text)) if isinstance(body, dict) else ""
    except ValueError:
        detail = response.text[:500]
    status = response.status_code
    cls = _BY_STATUS.get(status, LakeFSServerError if status >= 500 else LakeFSError)
    return cls(f"lakeFS answered {status}: {detail}", status=status, detail=detail)
