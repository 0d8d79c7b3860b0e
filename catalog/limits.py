"""Limits on what a request may carry, checked before any route runs.

- **Body size** (``Settings.max_request_bytes``, default 16 MiB): a larger body is answered 413
  without being read further. The biggest legitimate bodies are commits of wide schemas and
  transactions of many tables, far below the default.
- **Property size** (``Settings.max_property_bytes``, default 64 KiB, for each key and each
  value in UTF-8): table, view and namespace properties are copied into every later metadata file
  of the table, so one oversized value would be paid for at every commit and every load, forever.
  Properties appear as the ``properties`` object of create requests and the ``updates`` object of
  ``set-properties`` updates and namespace property updates; both are checked wherever they
  appear in the body.
- **lakeFS paths** (:func:`check_lakefs_path`): lakeFS refuses object paths longer than 1,024
  bytes; the catalog checks the paths a name would give before touching anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vxp.catalog.errors import BadRequest, CatalogError, PayloadTooLarge, error_body
from vxp.core.layout import Namespace, namespace_marker, table_pointer

DEFAULT_MAX_REQUEST_BYTES = 16 << 20
DEFAULT_MAX_PROPERTY_BYTES = 64 << 10
# lakeFS's own bound on an object path ("is above maximum length (1024)"), in bytes
LAKEFS_MAX_PATH = 1024
# the JSON keys under which requests carry property maps (create requests; set-properties and
# namespace property updates)
_PROPERTY_KEYS = ("properties", "updates")


def check_lakefs_path(path: str, what: str) -> None:
    """Refuse a name whose lakeFS object path lakeFS would refuse.

    Args:
        path: the object path in the ref (:mod:`vxp.core.layout`), percent-encoded ASCII.
        what: what is named (``namespace 'a.b'``, ``table 'a.b.t'``), for the message.

    Raises:
        BadRequest: ``path`` is longer than lakeFS's 1,024-byte limit.
    """
    size = len(path.encode())
    if size > LAKEFS_MAX_PATH:
        raise BadRequest(
            f"{what[:120]} is too long: its catalog entry's lakeFS path would be {size} bytes, and "
            f"lakeFS accepts at most {LAKEFS_MAX_PATH} (names are stored percent-encoded; use "
            "shorter names or fewer namespace levels)"
        )


def check_namespace_path(namespace: Namespace) -> None:
    """Refuse a namespace whose marker (the longest path a namespace has) lakeFS would refuse.

    Raises:
        BadRequest: see :func:`check_lakefs_path`.
    """
    check_lakefs_path(namespace_marker(namespace), f"namespace {'.'.join(namespace)!r}")


def check_entry_path(namespace: Namespace, name: str) -> None:
    """Refuse a table or view whose pointer lakeFS would refuse (table pointers' folder name is
    longer than views', so one check serves both).

    Raises:
        BadRequest: see :func:`check_lakefs_path`.
    """
    check_lakefs_path(table_pointer(namespace, name), f"{'.'.join((*namespace, name))!r}")


def _property_maps(document: Any) -> Iterator[dict[str, Any]]:
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _PROPERTY_KEYS and isinstance(value, dict):
                    yield value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _utf8_size(text: str) -> int:
    # lone surrogates (valid JSON escapes) are sized, not refused here: the routes refuse them
    return len(text.encode("utf-8", "surrogatepass"))


def check_properties(document: Any, max_bytes: int) -> None:
    """Refuse a request body with a property key or value longer than ``max_bytes`` in UTF-8.

    Every oversized property is named in one message (its key, cut to 80 characters, and size).

    Raises:
        BadRequest: some key or value is longer than ``max_bytes``.
    """
    problems: list[str] = []
    for properties in _property_maps(document):
        for key, value in properties.items():
            key_size = _utf8_size(key)
            if key_size > max_bytes:
                problems.append(f"a key of {key_size} bytes ({key[:80]!r}…)")
            if isinstance(value, str) and _utf8_size(value) > max_bytes:
                problems.append(f"{key[:80]!r} ({_utf8_size(value)} bytes)")
    if problems:
        raise BadRequest(
            f"properties longer than the catalog's limit of {max_bytes} bytes per key or value: "
            + ", ".join(problems[:20])
            + (f" and {len(problems) - 20} more" if len(problems) > 20 else "")
        )


class RequestLimits:
    """ASGI middleware enforcing the body and property limits (see the module docstring).

    Args:
        max_request_bytes: the largest body accepted, in bytes.
        max_property_bytes: the longest property key or value accepted, in UTF-8 bytes.
    """

    def __init__(self, app: ASGIApp, max_request_bytes: int, max_property_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_property_bytes = max_property_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
            if _is_json(scope):
                try:
                    document = json.loads(body)
                except (ValueError, RecursionError):
                    document = None  # the route answers a malformed body with its own 400
                check_properties(document, self.max_property_bytes)
        except CatalogError as exc:
            await _answer(send, exc)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                # the body was read whole; what is left is waiting for the client to go away
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        too_large = PayloadTooLarge(
            f"the request body is larger than the catalog's limit of {self.max_request_bytes} "
            "bytes (VXP_CATALOG_MAX_REQUEST_BYTES)"
        )
        limit = self.max_request_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    # clients that send no content type still send JSON to every route but the token endpoint
    return not str(scope.get("path", "")).endswith("/oauth/tokens")


async def _answer(send: Send, error: CatalogError) -> None:
    body = json.dumps(error_body(error.status, error.type, error.message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
