"""The ASGI application: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote_plus

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vxp.catalog import commits, errors
from vxp.catalog.auth import CallerCheck, TokenService
from vxp.catalog.context import Runtime
from vxp.catalog.limits import RequestLimits
from vxp.catalog.metadata import MetadataFiles
from vxp.catalog.request_ids import RequestContext
from vxp.catalog.routes import config, namespaces, oauth, tables, views
from vxp.catalog.settings import Settings
from vxp.catalog.tables import TableService
from vxp.catalog.views import ViewService
from vxp.lakefs import LakeFS


class RawPathRouting:
    """Route on the raw request path so an encoded ``/`` stays inside its path parameter.

    ASGI servers decode ``%2F`` in ``scope["path"]``, which would split a table named ``a/b``
    (sent as ``a%2Fb``) into two segments and miss every route. This middleware rebuilds the path
    from ``raw_path`` with only ``%`` and ``/`` kept encoded inside each segment;
    :func:`catalog.context.path_value` decodes parameters once more. A ``+`` is a space, as
    Iceberg's Java client encodes it (``URLEncoder``) and its reference server decodes it
    (``RESTUtil.decodeString``); a literal ``+`` arrives as ``%2B``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw:
            segments = raw.decode("latin-1").split("/")
            scope = dict(scope)
            scope["path"] = "/".join(
                unquote_plus(seg).replace("%", "%25").replace("/", "%2F") for seg in segments
            )
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    """The catalog's ASGI app: every route of :mod:`vxp.catalog.routes`, errors in the REST spec's
    ``IcebergErrorResponse`` shape, and ``/healthz`` for liveness probes.

    Every request gets a request id (:mod:`vxp.catalog.request_ids`) and passes the body and
    property limits (:mod:`vxp.catalog.limits`) before any route runs; no error body carries
    exception text.

    One :class:`~vxp.lakefs.LakeFS` pool serves every caller; it is closed when the app shuts
    down. Each request acts as its caller, with the lakeFS key pair in its bearer token.
    """
    lakefs = LakeFS(settings.lakefs_endpoint)
    files = MetadataFiles(settings)
    runtime = Runtime(
        settings=settings,
        lakefs=lakefs,
        tokens=TokenService(settings.token_secret, settings.token_ttl_seconds),
        callers=CallerCheck(lakefs, settings.caller_check_seconds),
        files=files,
        tables=TableService(settings, files),
        views=ViewService(settings, files),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # before the pool closes: the branches made ahead for commits that will not come
        commits.SPARES.close()
        lakefs.close()

    app = FastAPI(title="vxp Iceberg REST catalog", lifespan=lifespan)
    app.state.runtime = runtime
    errors.install(app)
    for module in (oauth, config, namespaces, tables, views):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness for the service manager and load balancers: no auth, no lakeFS call."""
        return JSONResponse({"status": "ok"})

    app.add_middleware(RawPathRouting)
    app.add_middleware(
        RequestLimits,
        max_request_bytes=settings.max_request_bytes,
        max_property_bytes=settings.max_property_bytes,
    )
    # outermost: the request id is set before anything else runs
    app.add_middleware(RequestContext)
    return app
