"""The ASGI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote_plus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vxp.catalog import errors
from vxp.catalog.auth import TokenService
from vxp.catalog.context import Runtime
from vxp.catalog.metadata import MetadataFiles
from vxp.catalog.routes import config, namespaces, oauth, tables, views
from vxp.catalog.settings import Settings
from vxp.catalog.tables import TableService
from vxp.catalog.views import ViewService
from vxp.lakefs import LakeFS

log = logging.getLogger(__name__)


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


def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    body = errors.error_body(500, "InternalServerError", f"internal error: {exc}")
    return JSONResponse(body, status_code=500)


def create_app(settings: Settings) -> FastAPI:
    """The catalog's ASGI app: every route of :mod:`vxp.catalog.routes`, errors in the REST spec's
    ``IcebergErrorResponse`` shape, and ``/healthz`` for liveness probes.

    One :class:`~vxp.lakefs.LakeFS` pool serves every caller; it is closed when the app shuts
    down. Each request acts as its caller, with the lakeFS key pair in its bearer token.
    """
    lakefs = LakeFS(settings.lakefs_endpoint)
    files = MetadataFiles(settings)
    runtime = Runtime(
        settings=settings,
        lakefs=lakefs,
        tokens=TokenService(settings.token_secret, settings.token_ttl_seconds),
        files=files,
        tables=TableService(settings, files),
        views=ViewService(settings, files),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        lakefs.close()

    app = FastAPI(title="vxp Iceberg REST catalog", lifespan=lifespan)
    app.state.runtime = runtime
    errors.install(app)
    app.add_exception_handler(Exception, _internal_error)
    for module in (oauth, config, namespaces, tables, views):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness for the service manager and load balancers: no auth, no lakeFS call."""
        return JSONResponse({"status": "ok"})

    app.add_middleware(RawPathRouting)
    return app
