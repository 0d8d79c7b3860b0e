"""Calls to the hooks server from clients: the action files to install, and the audit.

The server's URL is ``VXP_HOOKS_URL`` (``vxp env`` prints it; ``vxp up`` writes it to the client
file). Calls authenticate with the caller's lakeFS key pair (HTTP Basic), which the server checks
with lakeFS; the hooks secret never leaves the server and lakeFS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import httpx

from vxp.checks.audit import AuditResult
from vxp.core.errors import InvalidInput, NotFound, Unauthorized, Unavailable, VxpError
from vxp.core.home import Home
from vxp.core.settings import CLIENT_FILE, Settings

__all__ = ["URL_KEY", "accept_bypass", "fetch_actions", "fetch_audit", "hooks_url"]

URL_KEY = "VXP_HOOKS_URL"


def hooks_url(environ: Mapping[str, str] | None = None, home: Home | None = None) -> str:
    """The hooks server's URL: ``VXP_HOOKS_URL`` from the environment, else from the client file.

    Raises:
        Unavailable: neither names it (no stack with a hooks server was started here).
    """
    env = os.environ if environ is None else environ
    if env.get(URL_KEY):
        return env[URL_KEY].rstrip("/")
    path = (home or Home.from_env(env)).run / CLIENT_FILE
    try:
        url = json.loads(path.read_text()).get(URL_KEY) if path.exists() else None
    except (OSError, ValueError):
        url = None
    if not url:
        raise Unavailable(
            f"no hooks server is configured: {URL_KEY} is not set and {path} does not name one",
            hint='run `vxp up` (it starts the hooks server), or `eval "$(vxp env)"` on the '
            "machine that runs the stack",
        )
    return str(url).rstrip("/")


def _get(url: str, settings: Settings, body: Mapping[str, str] | None = None) -> httpx.Response:
    """GET ``url`` (POST ``body`` as JSON when given) with the caller's lakeFS key pair."""
    auth = (settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal())
    try:
        if body is None:
            response = httpx.get(url, auth=auth, timeout=600.0)
        else:
            response = httpx.post(url, json=dict(body), auth=auth, timeout=600.0)
    except httpx.TransportError as exc:
        raise Unavailable(
            f"the hooks server at {url} is unreachable ({type(exc).__name__})",
            hint="`vxp status` shows it; `vxp up` restarts it",
        ) from exc
    if response.status_code == 401:
        raise Unauthorized(f"the hooks server refused this lakeFS key pair: {response.text}")
    if response.status_code == 404:
        raise NotFound(str(response.json().get("detail", response.text)))
    if response.status_code in (409, 422):
        detail = response.json().get("detail", response.text)
        raise InvalidInput(detail if isinstance(detail, str) else json.dumps(detail))
    if response.status_code >= 300:
        raise VxpError(f"the hooks server answered {response.status_code}: {response.text[:500]}")
    return response


def fetch_actions(url: str, settings: Settings) -> dict[str, bytes]:
    """The action files this installation's hooks server wants on layer branches.

    Raises:
        Unavailable: the server cannot be reached.
        Unauthorized: it refused the key pair.
        VxpError: it answered otherwise.
    """
    files = _get(f"{url}/v1/actions", settings).json()["files"]
    return {str(path): str(content).encode() for path, content in files.items()}


def fetch_audit(url: str, settings: Settings, repository: str) -> AuditResult:
    """The server's audit of ``repository`` (:func:`vxp.checks.audit.audit`).

    Raises:
        NotFound: no such repository.
        Unavailable: the server cannot be reached.
        Unauthorized: it refused the key pair.
    """
    return AuditResult.from_json(_get(f"{url}/v1/repositories/{repository}/audit", settings).json())


def accept_bypass(
    url: str, settings: Settings, repository: str, commit_id: str, reason: str
) -> dict[str, str]:
    """Have the hooks server record, signed, that the bypass ``commit_id`` was reviewed and
    accepted for ``reason`` by the caller; the record (without its signature).

    Raises:
        NotFound: no such repository or commit.
        InvalidInput: the commit is not a bypass, or the reason is empty.
        Unavailable: the server cannot be reached.
        Unauthorized: it refused the key pair.
    """
    body = {"commit_id": commit_id, "reason": reason}
    answer = _get(f"{url}/v1/repositories/{repository}/audit/accept", settings, body).json()
    return {str(k): str(v) for k, v in answer.items()}
