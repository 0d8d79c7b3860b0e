"""A request id for every request: in its response's ``X-Request-ID`` header, in every error body
(``"request-id"``) and in every log line written while it is served, so an operator finds a
client's error in the log.

:class:`RequestContext` is the outermost middleware of the catalog's app (inside Starlette's own
error middleware): it sets the id, writes one access log line per request, and turns any
exception that escaped the app into a 500 whose body holds no exception text. Starlette's own
500 handler re-raises after answering, which makes uvicorn close the client's keep-alive
connection; answering here keeps it open.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_current: contextvars.ContextVar[str] = contextvars.ContextVar("vxp_catalog_request", default="-")
access_log = logging.getLogger("vxp.catalog.access")
log = logging.getLogger(__name__)


def current() -> str:
    """The id of the request being served in this context; ``-`` outside any request."""
    return _current.get()


def new_id() -> str:
    """A fresh request id: 16 hex digits (random, so ids never reveal request counts)."""
    return uuid.uuid4().hex[:16]


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request), for log formats that
    print ``%(request_id)s``. It never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.request_id``; always True."""
        record.request_id = current()
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the catalog server: uvicorn's and vxp's records on
    stderr, each line with its time, level, request id and logger.

    Args:
        level: the level of the ``vxp`` and ``uvicorn`` loggers (``INFO``, ``WARNING``, …).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "default": {
                "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "vxp": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def internal_error_body(request_id: str) -> dict[str, Any]:
    """The body of a 500 for an unexpected failure: the REST spec's ``IcebergErrorResponse``,
    with no exception text or server path (the cause is in the log under ``request_id``)."""
    message = f"internal error; the catalog's log has the cause under request id {request_id}"
    return {
        "error": {
            "message": message,
            "type": "InternalServerError",
            "code": 500,
            "request-id": request_id,
        }
    }


class RequestContext:
    """ASGI middleware: a request id per HTTP request, an access log line, and a clean 500 for any
    exception that escaped the app (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id()
        token = _current.set(request_id)
        started = time.monotonic()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error serving %s %s", scope["method"], scope["path"])
            if status:
                # the response has begun: nothing can be answered any more
                raise
            body = json.dumps(internal_error_body(request_id)).encode()
            status = 500
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            access_log.info(
                "%s %s %d %.1f ms",
                scope["method"],
                scope.get("path", ""),
                status,
                (time.monotonic() - started) * 1000,
            )
            _current.reset(token)
