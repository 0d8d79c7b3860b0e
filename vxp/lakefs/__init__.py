"""The lakeFS gateway: the one place vxp talks to lakeFS.

    from vxp.lakefs import LakeFS

    with LakeFS("http://127.0.0.1:8000") as lakefs:
        session = lakefs.as_user(access_key_id, secret_access_key)
        head = session.branch_head("clinical", "integration")

Typed errors by HTTP status (:class:`LakeFSError` and its subclasses, each also a
:mod:`vxp.core.errors` class), listings as generators that page as they are consumed, ref → commit
resolution, streaming uploads and downloads, one connection pool per :class:`LakeFS`.
"""

from __future__ import annotations

from vxp.core.settings import Settings
from vxp.lakefs._client import Commit, DiffEntry, Entry, LakeFS, ObjectStats, Session
from vxp.lakefs._errors import (
    LakeFSAlreadyExists,
    LakeFSBadRequest,
    LakeFSConflict,
    LakeFSError,
    LakeFSForbidden,
    LakeFSGone,
    LakeFSNotFound,
    LakeFSPreconditionFailed,
    LakeFSServerError,
    LakeFSUnauthorized,
    LakeFSUnreachable,
)

__all__ = [
    "Commit",
    "DiffEntry",
    "Entry",
    "LakeFS",
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
    "ObjectStats",
    "Session",
    "open_session",
]

_POOLS: dict[str, LakeFS] = {}


def open_session(settings: Settings) -> Session:
    """A session with ``settings``' key pair over this process's pool for its endpoint.

    For short-lived processes (the CLI); long-lived owners (``vxp_client.PlatformClient``, the
    catalog) make their own :class:`LakeFS` and close it. No request is made here: a wrong
    endpoint or key pair shows on the session's first call.
    """
    pool = _POOLS.get(settings.lakefs_endpoint)
    if pool is None:
        pool = _POOLS[settings.lakefs_endpoint] = LakeFS(settings.lakefs_endpoint)
    return pool.as_user(settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal())
