"""The hooks server's ASGI app: ``create_app(settings)``.

Routes:

- ``POST /v1/lakefs/webhook``: lakeFS's pre-commit and pre-merge webhook. Bearer token = the
  installation's hooks secret, anything else 401. Runs every check on the payload's tree; 200
  when they pass (and a signed record is kept), 412 with every problem when they do not, 500
  when a check cannot run: lakeFS fails the hook on anything but 2xx, so hooks fail closed.
- ``GET /v1/actions``: the action files for this installation (``vxp hooks install``).
- ``GET /v1/repositories/{repo}/audit``: layer-branch commits without a passing record, and
  layer-branch heads without vxp's action or (``app-*``) with PHI columns.
- ``POST /v1/repositories/{repo}/audit/accept``: ``{"commit_id", "reason"}``: record, signed,
  that a bypass was reviewed and accepted by the caller (``vxp audit --accept``).
- ``GET /healthz``: liveness, no authentication.

The audit routes and ``/v1/actions`` take the caller's lakeFS key pair (HTTP Basic), checked
with lakeFS.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vxp.checks import phi
from vxp.checks.actions import render
from vxp.checks.audit import AuditResult, audit
from vxp.checks.base import CheckEnv, Problem, Target, WarmDuckDB
from vxp.checks.events import CREATE_BRANCH, Event, target_of, validate_event
from vxp.checks.records import RecordStore
from vxp.core.errors import InvalidInput, NotFound
from vxp.hooks.dictionaries import dictionary_phi
from vxp.hooks.settings import Settings
from vxp.lakefs import LakeFS, LakeFSNotFound, LakeFSUnauthorized, Session

log = logging.getLogger("vxp.hooks")

__all__ = ["create_app"]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def create_app(settings: Settings) -> FastAPI:
    """The hooks server's app for ``settings``; one lakeFS pool, closed on shutdown."""
    lakefs = LakeFS(settings.client.lakefs_endpoint, timeout=120.0)
    admin = lakefs.as_user(
        settings.client.lakefs_access_key_id, settings.client.lakefs_secret_access_key.reveal()
    )
    # one DuckDB with its extensions loaded for the server's life (about 1 s per load)
    env = CheckEnv(
        admin,
        settings.client,
        settings.cache,
        WarmDuckDB(settings.cache),
        phi_sources=(dictionary_phi,),
    )
    store = RecordStore(settings.records, settings.secret)
    expected = render(settings.public_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        lakefs.close()

    app = FastAPI(title="vxp hooks", docs_url=None, redoc_url=None, lifespan=lifespan)

    def lakefs_bearer(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.secret.encode()
        ):
            raise _unauthorized("the webhook needs the installation's hooks secret")

    def caller(authorization: Annotated[str | None, Header()] = None) -> Session:
        scheme, _, token = (authorization or "").partition(" ")
        try:
            key, _, secret = base64.b64decode(token).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key = secret = ""
        if scheme.lower() != "basic" or not key or not secret:
            raise _unauthorized("send your lakeFS key pair (HTTP Basic)")
        session = lakefs.as_user(key, secret)
        try:
            session.current_user()
        except LakeFSUnauthorized:
            raise _unauthorized("lakeFS does not know this key pair") from None
        return session

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for the service manager: no authentication, no lakeFS call."""
        return {"status": "ok"}

    @app.post("/v1/lakefs/webhook", dependencies=[Depends(lakefs_bearer)])
    async def webhook(request: Request) -> JSONResponse:
        """lakeFS's pre-commit/pre-merge webhook: 200 to let the change land, else 412/500."""
        try:
            body: Any = await request.json()
            event = Event.from_json(body if isinstance(body, dict) else {})
        except (ValueError, InvalidInput) as exc:
            return JSONResponse({"passed": False, "error": str(exc)}, status_code=400)
        # the checks block (lakeFS, DuckDB): off the event loop, so health answers meanwhile
        return await run_in_threadpool(_handle, event)

    def _handle(event: Event) -> JSONResponse:
        where = f"{event.repository}/{event.branch} ({event.event_type})"
        try:
            report = validate_event(env, event, expected)
            # a branch's creation makes no commit, so there is nothing for the audit to vouch
            if report.passed and event.event_type != CREATE_BRANCH:
                _, key = target_of(env, event)
                store.put(key, report, event.event_type)
        except Exception as exc:
            # a check that cannot run (lakeFS, the catalog or DuckDB failing, a bug) refuses:
            # hooks fail closed, and lakeFS keeps this answer in the hook run's log
            log.exception("checks could not run for %s", where)
            body = {"passed": False, "error": f"the checks could not run: {exc}"}
            return JSONResponse(body, status_code=500)
        log.info("%s\n%s", where, report.describe())
        return JSONResponse(
            {**report.to_json(), "report": report.describe()},
            status_code=200 if report.passed else 412,
        )

    # dependencies as defaults, not in annotations: these functions are local to create_app,
    # and FastAPI resolves (postponed) annotations in the module's namespace
    @app.get("/v1/actions", dependencies=[Depends(caller)])
    def actions() -> dict[str, dict[str, str]]:
        """The action files ``vxp hooks install`` puts on layer branches."""
        return {"files": {path: content.decode() for path, content in expected.items()}}

    @app.get("/v1/repositories/{repository}/audit")
    def repository_audit(
        repository: str,
        session: Session = Depends(caller),  # noqa: B008 - FastAPI's dependency idiom
    ) -> dict[str, Any]:
        """Layer-branch commits of ``repository`` without a passing record."""
        try:
            return _audit(session, repository).to_json()
        except (LakeFSNotFound, NotFound) as exc:
            raise HTTPException(404, detail=f"repository {repository!r} does not exist") from exc

    def _phi_at(repository: str, branch: str, head: str) -> list[Problem]:
        return phi.check(env, Target(repository, branch, head, None))

    def _audit(session: Session, repository: str) -> AuditResult:
        return audit(session, repository, store, expected=expected, phi_check=_phi_at)

    @app.post("/v1/repositories/{repository}/audit/accept")
    def accept_bypass(
        repository: str,
        commit_id: Annotated[str, Body()],
        reason: Annotated[str, Body()],
        session: Session = Depends(caller),  # noqa: B008 - FastAPI's dependency idiom
    ) -> dict[str, Any]:
        """Record, signed, that the bypass ``commit_id`` was reviewed and accepted: 404 when no
        such commit, 409 when it is not a bypass, 422 without a reason."""
        if not reason.strip():
            raise HTTPException(422, detail="an acceptance needs a reason (--reason)")
        try:
            commit = session.get_commit(repository, commit_id)
            if commit is None:
                raise HTTPException(404, detail=f"no commit {commit_id!r} in {repository!r}")
            bypasses = {b.commit_id for b in _audit(session, repository).bypasses}
        except (LakeFSNotFound, NotFound) as exc:
            raise HTTPException(404, detail=f"repository {repository!r} does not exist") from exc
        if commit.id not in bypasses:
            raise HTTPException(
                409,
                detail=f"commit {commit.id[:12]} of {repository!r} is not a bypass "
                "(it was validated, or it is not on a layer branch's first-parent history)",
            )
        record = store.accept(repository, commit.id, reason, session.current_user())
        log.warning("%s: bypass %s accepted by %s", repository, commit.id, record["accepted_by"])
        return {k: v for k, v in record.items() if k != "signature"}

    return app
