"""Catalog errors and their rendering as the REST spec's ``IcebergErrorResponse``.

Every error a client can see is a :class:`CatalogError` with an HTTP status, the Iceberg
exception type name clients map to their own exceptions, and a message written for a human.
"""

from __future__ import annotations

import errno
import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vxp.catalog import request_ids
from vxp.core.errors import Forbidden as ForbiddenError
from vxp.core.errors import InvalidInput, PreconditionFailed, Unauthorized, Unavailable, VxpError
from vxp.core.errors import NotFound as NotFoundError

log = logging.getLogger(__name__)


class CatalogError(Exception):
    """An error a client sees, rendered as the REST spec's ``IcebergErrorResponse``.

    Attributes:
        status: the HTTP status (class attribute).
        type: the Iceberg exception type name clients map to their own exceptions.
        message: written for a human; Iceberg's own words where clients match on them.
    """

    status: ClassVar[int] = 500
    type: ClassVar[str] = "InternalServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(CatalogError):
    """400 ``BadRequestException``: a malformed request or a name the catalog refuses."""

    status, type = 400, "BadRequestException"


class InvalidArgument(BadRequest):
    """A well-formed change that Iceberg's rules reject (a duplicate dialect, an unknown ID).

    Iceberg's Java client rethrows a 400 of this type as its own ``IllegalArgumentException`` with
    the message unchanged, the way the reference server reports its builders' argument checks.
    """

    type = "IllegalArgumentException"


class NotAuthorized(CatalogError):
    """401 ``NotAuthorizedException``: no, a bad or an expired token; or a rejected key pair."""

    status, type = 401, "NotAuthorizedException"


class Forbidden(CatalogError):
    """403 ``ForbiddenException``: lakeFS denied the caller this operation."""

    status, type = 403, "ForbiddenException"


class ReadOnlyRef(Forbidden):
    """A write addressed a tag or a commit: they are immutable snapshots."""


class NoSuchWarehouse(CatalogError):
    """404 ``NoSuchWarehouseException``: the warehouse's repository or ref does not exist."""

    status, type = 404, "NoSuchWarehouseException"


class NoSuchNamespace(CatalogError):
    """404 ``NoSuchNamespaceException``: the namespace (or the ref it is in) does not exist."""

    status, type = 404, "NoSuchNamespaceException"


class NoSuchTable(CatalogError):
    """404 ``NoSuchTableException``: no such table (``Table does not exist: ns.t``)."""

    status, type = 404, "NoSuchTableException"


class NoSuchView(CatalogError):
    """404 ``NoSuchViewException``: no such view (``View does not exist: ns.v``)."""

    status, type = 404, "NoSuchViewException"


class NotFound(CatalogError):
    """404 ``NotFoundException``: something else is missing (a metadata file, an endpoint)."""

    status, type = 404, "NotFoundException"


class UnsupportedOperation(CatalogError):
    """406 ``UnsupportedOperationException``: e.g. dropping a namespace that is a lakeFS ref."""

    status, type = 406, "UnsupportedOperationException"


class AlreadyExists(CatalogError):
    """409 ``AlreadyExistsException``: a namespace, table or view of that name exists."""

    status, type = 409, "AlreadyExistsException"


class NamespaceNotEmpty(CatalogError):
    """409 ``NamespaceNotEmptyException``: dropping a namespace that still holds entries."""

    status, type = 409, "NamespaceNotEmptyException"


class CommitFailed(CatalogError):
    """409 ``CommitFailedException``: a requirement failed or the branch kept changing; nothing
    changed, and the client may refresh and retry (Iceberg REST spec, ``updateTable``).
    """

    status, type = 409, "CommitFailedException"


class UnprocessableEntity(CatalogError):
    """422 ``UnprocessableEntityException``: a property both updated and removed."""

    status, type = 422, "UnprocessableEntityException"


class CommitStateUnknown(CatalogError):
    """The commit request reached lakeFS but its answer was lost: it may or may not have landed."""

    status, type = 500, "CommitStateUnknownException"


class PayloadTooLarge(CatalogError):
    """413 ``BadRequestException``: the request body is larger than the catalog accepts."""

    status, type = 413, "BadRequestException"


class ServiceUnavailable(CatalogError):
    """503 ``ServiceUnavailableException``: lakeFS cannot be reached."""

    status, type = 503, "ServiceUnavailableException"


def summarize(exc: Exception) -> str:
    """What a parser refused, for a client's message, without the exception's raw text (which
    may quote the input at length, or name server paths): a pydantic ``ValidationError``'s
    first 5 problems as ``location: message``, any other error's type name.
    """
    if isinstance(exc, ValidationError):
        problems = [
            ".".join(str(part) for part in err.get("loc", ())) + f": {err.get('msg', 'invalid')}"
            for err in exc.errors()[:5]
        ]
        more = exc.error_count() - len(problems)
        return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")
    return type(exc).__name__


def error_body(status: int, type_: str, message: str) -> dict[str, Any]:
    """The spec's ``IcebergErrorResponse``: ``{"error": {"message", "type", "code",
    "request-id"}}``.

    ``request-id`` is the request's id (:mod:`vxp.catalog.request_ids`), which the log lines of
    the same request carry too. It is a field of its own, not part of the message: clients and
    test kits match Iceberg's messages exactly, and ignore fields they do not know.
    """
    error = {"message": message, "type": type_, "code": status}
    return {"error": {**error, "request-id": request_ids.current()}}


def _catalog_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CatalogError)
    body = error_body(exc.status, exc.type, exc.message)
    if exc.status == 406:
        # the spec's UnsupportedOperationResponse schema is a bare ErrorModel, while its example
        # and the clients (Iceberg Java, pyiceberg) read IcebergErrorResponse's "error": both
        body = {**body["error"], **body}
    return JSONResponse(body, status_code=exc.status)


def _vxp_error(_: Request, exc: Exception) -> JSONResponse:
    """An error of the layers below (the lakeFS gateway) as the REST spec's error response."""
    assert isinstance(exc, VxpError)
    error: CatalogError
    if isinstance(exc, Unauthorized):
        error = NotAuthorized(f"lakeFS rejected the credentials: {exc.message}")
    elif isinstance(exc, ForbiddenError):
        error = Forbidden(f"lakeFS denied the request: {exc.message}")
    elif isinstance(exc, Unavailable):
        error = ServiceUnavailable(exc.message)
    elif isinstance(exc, PreconditionFailed):
        # a lakeFS hook refused the commit: nothing landed, and retrying will not help (a 500
        # would make Iceberg clients report the commit's state as unknown)
        error = Forbidden(f"a lakeFS hook refused the change: {exc.message}")
    elif isinstance(exc, NotFoundError):
        error = NotFound(exc.message)
    elif isinstance(exc, InvalidInput):
        # the catalog checks names and paths before calling lakeFS; what lakeFS still refuses is
        # logged in full, and the client learns only that lakeFS refused it
        log.warning("lakeFS refused a request as malformed: %s", exc.message)
        error = BadRequest("lakeFS refused the request as malformed (the log has its answer)")
    else:
        log.error("lakeFS failed: %s", exc.message)
        error = CatalogError("lakeFS failed to handle the request (the log has its answer)")
    return _catalog_error(_, error)


def _storage_error(_: Request, exc: Exception) -> JSONResponse:
    """A failure reading or writing the warehouse's storage, without its text (which names
    server paths): the file system's rules a client can break are 400s, the rest 500."""
    assert isinstance(exc, OSError)
    error: CatalogError
    text = str(exc)
    if exc.errno == errno.ENAMETOOLONG or "name too long" in text.lower():
        error = BadRequest(
            "a name or location is too long for the warehouse's storage (each path segment is "
            "limited to 255 bytes)"
        )
    elif isinstance(exc, IsADirectoryError) or "is a directory" in text.lower():
        error = BadRequest("the location names a directory, not a metadata file")
    elif isinstance(exc, FileNotFoundError):
        error = NotFound("no file at the location")
    else:
        log.error("storage failed: %s", text)
        return _catalog_error(_, CatalogError("the warehouse's storage failed (see the log)"))
    log.info("storage refused a request: %s", text)
    return _catalog_error(_, error)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # the spec answers malformed requests (including unknown update/requirement types) with 400
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    message = "malformed request: " + "; ".join(problems)
    return JSONResponse(error_body(400, "BadRequestException", message), status_code=400)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = {404: "NotFoundException", 405: "MethodNotAllowedException"}.get(
        exc.status_code, "BadRequestException"
    )
    message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(
        error_body(exc.status_code, type_, message),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def install(app: FastAPI) -> None:
    """Render every error of a request as an ``IcebergErrorResponse``.

    :class:`CatalogError` with its own status; a :class:`~vxp.core.errors.VxpError` from the
    layers below by kind (400, 401, 403, 503; any other kind 500); an :class:`OSError` of the
    warehouse's storage by kind (400 for a name too long or a directory, 404, else 500); a
    request that fails validation as 400 (the spec's answer to a malformed body); routing
    errors as 404 or 405. No body carries exception text: that goes to the log, under the
    request id every body names. Anything else is answered by
    :class:`vxp.catalog.request_ids.RequestContext`.
    """
    app.add_exception_handler(CatalogError, _catalog_error)
    app.add_exception_handler(VxpError, _vxp_error)
    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
