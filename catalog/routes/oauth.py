"""POST /v1/oauth/tokens: exchange lakeFS credentials (or a valid token) for a bearer token.

Errors here use the OAuth2 error shape ({"error": "invalid_client", ...}), as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vxp.catalog import request_ids
from vxp.catalog.auth import Caller, authenticate
from vxp.catalog.context import Runtime, runtime
from vxp.catalog.errors import CatalogError, NotAuthorized
from vxp.core.errors import Unauthorized

router = APIRouter()

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a grant name
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a type name


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    body = {"error": error, "error_description": description, "request_id": request_ids.current()}
    return JSONResponse(body, status_code=status)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    # OAuth2 recommends sending client credentials in a Basic Authorization header
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


@router.post("/v1/oauth/tokens")
async def get_token(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> JSONResponse:
    """``getToken`` (Iceberg REST spec, OAuth2 RFC 6749 client credentials; RFC 8693 token
    exchange to refresh): a bearer token carrying the caller's lakeFS key pair.

    Errors are answered in OAuth2's shape (``{"error": "invalid_client", …}``), not raised.

    Raises:
        LakeFSUnreachable: lakeFS cannot be reached while checking the key pair (rendered as
            a 503 ``IcebergErrorResponse``).
        LakeFSError: lakeFS failed otherwise while checking it (rendered as a 500).
    """
    try:
        text = (await request.body()).decode()
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "the form body is not UTF-8")
    form = {k: v[0] for k, v in parse_qs(text).items()}
    grant = form.get("grant_type")
    if grant is not None and len(grant) > 200:
        grant = grant[:200] + "…"
    caller: Caller
    try:
        if grant == "client_credentials":
            basic = _basic_credentials(request.headers.get("authorization"))
            client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
            if not client_id or not secret:
                return _oauth_error(
                    400,
                    "invalid_request",
                    "client_id and client_secret (a lakeFS access key ID and secret) are required",
                )
            try:
                # lakeFS is called synchronously; keep the event loop free meanwhile
                caller = await run_in_threadpool(authenticate, rt.lakefs, client_id, secret)
            except Unauthorized:
                return _oauth_error(401, "invalid_client", "lakeFS does not know these credentials")
        elif grant == TOKEN_EXCHANGE:
            # refresh: a still-valid token of ours buys a new one with a fresh lifetime
            subject = form.get("subject_token")
            if not subject:
                return _oauth_error(400, "invalid_request", "subject_token is required")
            try:
                try:
                    who = rt.tokens.verify(subject)
                except NotAuthorized:
                    # Iceberg's per-session exchange (Trino's `session=USER`): the subject is
                    # the engine's own unsigned JWT, and the actor a token of ours; the new token
                    # is the actor's, as a refresh would give it
                    actor = form.get("actor_token")
                    if not actor:
                        raise
                    who = rt.tokens.verify(actor)
                # a refresh must not outlive the lakeFS user or key: ask lakeFS again
                caller = await run_in_threadpool(rt.callers.confirm, who)
            except NotAuthorized as exc:
                return _oauth_error(401, "invalid_grant", exc.message)
        else:
            return _oauth_error(
                400,
                "unsupported_grant_type",
                f"grant_type {grant!r} is not supported; use client_credentials",
            )
    except CatalogError as exc:
        return _oauth_error(exc.status, "invalid_request", exc.message)
    return JSONResponse(
        {
            "access_token": rt.tokens.issue(caller),
            "token_type": "bearer",
            "expires_in": rt.tokens.ttl_seconds,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        }
    )
