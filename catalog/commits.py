"""The optimistic commit protocol: every catalog write lands on a branch as one lakeFS merge.

1. Read the catalog objects at the branch's head *commit ID* and plan the change against them
   (requirements are validated here; metadata files are written here, under fresh names).
2. Create a hidden temporary branch from exactly that commit, write the planned objects there and
   commit them with metadata naming the tables, snapshots, operation and caller.
3. Squash-merge the temporary branch into the target branch. lakeFS's three-way merge is the
   compare-and-swap: if someone changed one of the same objects since step 1, it conflicts and the
   plan is re-run against the new head (requirements re-validated); if others changed different
   objects, the merge simply succeeds. Merges are allowed on protected branches, direct writes
   and commits are not, which is why the change never touches the target branch's staging area.
4. Delete the temporary branch, whatever happened.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vxp.catalog import refs
from vxp.catalog.auth import Caller
from vxp.catalog.errors import CatalogError, CommitFailed, CommitStateUnknown
from vxp.catalog.state import RefState
from vxp.lakefs import (
    LakeFSBadRequest,
    LakeFSConflict,
    LakeFSError,
    LakeFSUnreachable,
    Session,
)

log = logging.getLogger(__name__)

TEMP_BRANCH_PREFIX = "vxp-catalog-"
T = TypeVar("T")


@dataclass(frozen=True)
class Write:
    """One object the commit writes.

    Attributes:
        path: its path in the ref (:mod:`vxp.core.layout`).
        content: its new content, or None to delete it.
    """

    path: str
    # None deletes the object
    content: bytes | None


@dataclass
class Change(Generic[T]):
    """What a plan wants written, how the lakeFS commit describes it, and what to answer.

    Attributes:
        result: what the operation returns to the client once the change landed.
        writes: the objects to write or delete; none: nothing to commit, ``result`` is answered.
        message: the lakeFS commit message.
        metadata: the commit's metadata (:mod:`vxp.core.metadata` keys).
    """

    result: T
    writes: list[Write] = field(default_factory=list)
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


class _Conflict(Exception):
    pass


def run(
    session: Session,
    repo: str,
    branch: str,
    plan: Callable[[RefState], Change[T]],
    *,
    caller: Caller,
    attempts: int,
    exhausted: Callable[[], CatalogError],
) -> T:
    """Plan against the branch head and land the change, re-planning after a lost race.

    ``plan`` raises :class:`CatalogError` for anything the client must fix (a failed requirement
    is a CommitFailed); ``exhausted`` builds the error for losing ``attempts`` races in a row.
    The steps are the module's protocol (DESIGN.md, "Catalog invariants" 3).

    Args:
        caller: who the commit is for; its user ID goes into ``vxp.catalog.caller``.
        attempts: how many plans may lose the race before giving up.

    Raises:
        CatalogError: whatever ``plan`` raises, or ``exhausted()``.
        ReadOnlyRef: ``branch`` is a tag or a commit.
        NoSuchNamespace: ``branch`` does not exist.
        CommitFailed: ``branch`` has uncommitted changes (lakeFS does not merge into them).
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        LakeFSNotFound: ``repo`` does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
            :class:`~vxp.lakefs.LakeFSPreconditionFailed`.
    """
    for _ in range(attempts):
        head = refs.branch_head(session, repo, branch)
        change = plan(RefState(session, repo, head))
        if not change.writes:
            return change.result
        metadata = {**change.metadata, "vxp.catalog.caller": caller.user_id}
        try:
            _land(session, repo, branch, head, change.writes, change.message, metadata)
        except _Conflict:
            continue
        return change.result
    raise exhausted()


def _land(
    session: Session,
    repo: str,
    branch: str,
    head: str,
    writes: list[Write],
    message: str,
    metadata: dict[str, str],
) -> None:
    temp = TEMP_BRANCH_PREFIX + uuid.uuid4().hex[:20]
    # hidden: temporary branches stay out of users' branch listings
    session.create_branch(repo, temp, head, hidden=True)
    try:
        for write in writes:
            if write.content is None:
                session.delete_object(repo, temp, write.path)
            else:
                session.upload_object(repo, temp, write.path, write.content)
        session.commit(repo, temp, message, metadata)
        try:
            session.merge(repo, temp, branch, message, metadata, squash=True)
        except LakeFSUnreachable as exc:
            raise CommitStateUnknown(
                f"lost the answer to the lakeFS merge into {branch!r}; the commit may or may not "
                "have landed (reload the table to find out)"
            ) from exc
        except LakeFSConflict as exc:
            raise _Conflict from exc
        except LakeFSBadRequest as exc:
            # lakeFS refuses (400) to merge into a branch with uncommitted changes
            if session.has_uncommitted(repo, branch):
                raise CommitFailed(
                    f"branch {branch!r} has uncommitted changes, and lakeFS does not merge into a "
                    "dirty branch; commit or reset them, then retry"
                ) from exc
            raise
    finally:
        try:
            session.delete_branch(repo, temp)
        except (CatalogError, LakeFSError) as exc:
            # the change itself is settled; a leftover hidden branch only costs a ref
            log.warning("could not delete temporary branch %s/%s: %s", repo, temp, exc)
