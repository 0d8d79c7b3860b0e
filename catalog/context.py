"""Per-request context for route handlers: the server runtime, the caller, their warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Request

from vxp.catalog import leftovers, refs
from vxp.catalog.auth import Caller, CallerCheck, TokenService, session_for
from vxp.catalog.errors import NoSuchNamespace, NotAuthorized
from vxp.catalog.limits import check_namespace_path
from vxp.catalog.metadata import MetadataFiles
from vxp.catalog.refs import Location, Warehouse, parse_warehouse
from vxp.catalog.settings import Settings
from vxp.catalog.state import RefState, validate_namespace
from vxp.catalog.tables import TableService
from vxp.catalog.views import ViewService
from vxp.core.layout import Namespace
from vxp.lakefs import LakeFS, Session

# the spec's default namespace separator in path parameters (unit separator, %1F)
NAMESPACE_SEPARATOR = "\x1f"


@dataclass
class Runtime:
    """What the server holds for its whole life, shared by every request (``app.state.runtime``).

    Attributes:
        settings: the server's settings.
        lakefs: the lakeFS connection pool.
        tokens: the bearer token service.
        callers: confirms a token's key pair with lakeFS before a request does anything else.
        files: metadata file reads and writes, with their cache.
        tables, views: the table and view operations.
    """

    settings: Settings
    lakefs: LakeFS
    tokens: TokenService
    callers: CallerCheck
    files: MetadataFiles
    tables: TableService
    views: ViewService


async def runtime(request: Request) -> Runtime:
    """FastAPI dependency: the app's :class:`Runtime`.

    ``async``: no I/O, so FastAPI runs it on the event loop instead of handing it to a worker
    thread (every sync dependency costs a thread hop, milliseconds on a busy machine).
    """
    rt: Runtime = request.app.state.runtime
    return rt


def caller(
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> Caller:
    """FastAPI dependency: the caller of a request, from its ``Authorization: Bearer`` header,
    confirmed with lakeFS (:class:`~vxp.catalog.auth.CallerCheck`) before the route reads anything.

    Raises:
        NotAuthorized: no header, not a bearer token, a token this server did not issue or
            that has expired, or a key pair lakeFS no longer accepts.
        LakeFSUnreachable: lakeFS cannot be reached (rendered as a 503).
    """
    if not authorization:
        raise NotAuthorized(
            "this catalog requires a bearer token: get one from POST /v1/oauth/tokens with your "
            "lakeFS access key ID and secret as client credentials"
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorized("the Authorization header must be 'Bearer <token>'")
    return rt.callers.confirm(rt.tokens.verify(token.strip()))


@dataclass
class Ctx:
    """What every catalog route needs: who calls, their lakeFS session, which warehouse."""

    rt: Runtime
    caller: Caller
    session: Session
    warehouse: Warehouse

    def locate(self, namespace: Namespace) -> Location:
        """Where a namespace the client named is: its repository, ref and namespace in the ref.

        Raises:
            BadRequest: a level breaks the name rules, the namespace is deeper than 16 levels,
                its lakeFS path would pass lakeFS's 1,024-byte limit, or it is empty in a
                repository-scoped warehouse (whose first level is the ref).
        """
        validate_namespace(namespace)
        loc = self.warehouse.locate(namespace)
        check_namespace_path(loc.namespace)
        return loc

    def listing(self, namespace: Namespace) -> tuple[Location, RefState]:
        """Where to list what ``namespace`` holds, and the state to list it from.

        The ref is resolved when the namespace is the ref itself or is missing: lakeFS answers a
        listing in a missing ref with a bare 404, and a missing ref gets its own message.

        Raises:
            BadRequest: see :meth:`locate`.
            NoSuchNamespace: the namespace or its ref does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        loc = self.locate(namespace)
        state = RefState(self.session, loc.repo, loc.ref)
        if not loc.namespace:
            refs.resolve(self.session, loc.repo, loc.ref)
        elif not state.namespace_exists(loc.namespace):
            refs.resolve(self.session, loc.repo, loc.ref)
            raise NoSuchNamespace(f"Namespace does not exist: {'.'.join(namespace)}")
        return loc, state


def ctx(
    prefix: str,
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> Ctx:
    """FastAPI dependency: the request's :class:`Ctx`, from its ``{prefix}`` and bearer token.

    A write is also the occasion to delete, in the background, the temporary branches a killed
    catalog left in the repository (:func:`vxp.catalog.leftovers.sweep_soon`).

    Raises:
        NotAuthorized: see :func:`caller`.
        BadRequest: ``prefix`` is not a warehouse name (``<repo>`` or ``<repo>.<ref>``).
    """
    # the caller is resolved here, not as a dependency of its own: one worker-thread hop fewer
    who = caller(rt, authorization)
    c = Ctx(rt, who, session_for(rt.lakefs, who), parse_warehouse(path_value(prefix)))
    if request.method not in ("GET", "HEAD"):
        leftovers.sweep_soon(c.session, c.warehouse.repo, rt.settings.temp_branch_lease_seconds)
    return c


def path_value(raw: str) -> str:
    """A path parameter as the client meant it (see :class:`vxp.catalog.app.RawPathRouting`)."""
    return unquote(raw)


def namespace_param(raw: str) -> tuple[str, ...]:
    """A ``{namespace}`` path parameter as levels: split at the spec's separator, ``%1F``."""
    return tuple(unquote(raw).split(NAMESPACE_SEPARATOR))
