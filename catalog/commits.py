"""The optimistic commit protocol: every catalog write lands on a branch as one lakeFS merge.

1. Read the catalog objects at the branch's head *commit ID* and plan the change against them
   (requirements are validated here; new metadata files get fresh names). Right after a caller's
   commit landed, its next one is planned on the commit that landed, while one read of the
   branch's newest commit checks that this is still the head: a plan whose answer needs no
   landing (a failed requirement, a change of nothing) waits for that read, any other is checked
   before step 2 commits, and a head that moved on means planning again, not a lost race.
2. Create a hidden temporary branch from exactly that commit (or take the one made ahead there,
   :class:`_Spares`), write the planned objects there while the new metadata files are written
   to storage, and commit them with metadata naming the tables, snapshots, operation and caller.
3. Squash-merge the temporary branch into the target branch. lakeFS's three-way merge is the
   compare-and-swap: if someone changed one of the same objects since step 1, it conflicts and the
   plan is re-run against the new head (requirements re-validated); if others changed different
   objects, the merge simply succeeds. Merges are allowed on protected branches, direct writes
   and commits are not, which is why the change never touches the target branch's staging area.
4. Delete the temporary branch, whatever happened (in the background once the merge answered:
   the client need not wait for it).

Concurrent commits of one caller to one branch are grouped: while one group is landing, the
commits that arrive queue up, and the next group plans all of them against the same head and
lands them as *one* temporary branch, lakeFS commit and merge. Commits in a group never touch the
same object (a second change of the same table waits for the next group and is re-planned on top
of the first), so grouping changes nothing a client can observe but the time: writers to
different tables of one branch no longer wait for one merge each. Only table commits are grouped
(creates, drops, renames and namespace changes land alone), and only one caller's: the lakeFS
commit is made with that caller's credentials.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from vxp.catalog import leftovers, reads, refs
from vxp.catalog.auth import Caller
from vxp.catalog.errors import CatalogError, CommitFailed, CommitStateUnknown, ReadOnlyRef
from vxp.catalog.state import RefState
from vxp.core.metadata import CATALOG_ACTION, CATALOG_CALLER, CATALOG_CHANGES, CATALOG_TABLES
from vxp.lakefs import (
    LakeFSBadRequest,
    LakeFSConflict,
    LakeFSError,
    LakeFSPreconditionFailed,
    LakeFSUnreachable,
    Session,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# the most commits one lakeFS commit carries; more wait for the next group
MAX_GROUP = 64
# the catalog actions whose changes may share a lakeFS commit (each names its tables in
# vxp.catalog.changes, so the group's commit still names every table, snapshot and operation)
GROUPABLE_ACTIONS = frozenset({"commit-table", "commit-transaction"})
GROUP_ACTION = "commit-tables"
# temporary branches are deleted off the request path, one at a time
_cleanup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vxp-catalog-cleanup")
# a group's plans (each writes its table's metadata file) and its objects' uploads run side by
# side: one after the other they were most of a group's landing time
PARALLEL = 8
_planning = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="vxp-catalog-plan")
_uploading = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="vxp-catalog-upload")
# a landed commit's parent is checked off the request path (reads.CommitReads.derive)
_lineage = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vxp-catalog-lineage")
# how long a temporary branch made ahead may wait for its commit (well inside the sweep's lease);
# while it exists it retains the commit it sits on from gc, as every temporary branch does
SPARE_SECONDS = 30.0
# how many branches made ahead this process keeps (one per busy caller and branch)
MAX_SPARES = 64


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
        files: work that must be done before the change may land, such as writing the new
            metadata files ``writes`` point at; it runs alongside staging ``writes`` and only
            when this plan is landed (a plan deferred to the next group writes nothing).
    """

    result: T
    writes: list[Write] = field(default_factory=list)
    message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    files: list[Callable[[], None]] = field(default_factory=list)


class _Conflict(Exception):
    pass


class _Stale(Exception):
    """The head a change was planned on speculatively is no longer the branch's head."""


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
        ReadOnlyRef: ``branch`` is a tag, a commit, or a temporary branch the catalog made ahead.
        NoSuchNamespace: ``branch`` does not exist.
        CommitFailed: ``branch`` has uncommitted changes (lakeFS does not merge into them).
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        LakeFSNotFound: ``repo`` does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
            :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
    """
    if leftovers.made_ahead(branch):
        # gc does not count such a branch as a ref (leftovers.made_ahead), and the catalog
        # deletes it soon: a write there would be lost
        raise ReadOnlyRef(
            f"branch {branch!r} is the catalog's own temporary branch; write to another branch"
        )
    me = _Pending(plan, exhausted)
    queue = _queue((repo, branch, caller.access_key_id, caller.user_id))
    while True:
        _take_turn(session, repo, branch, queue, me, caller, attempts)
        if me.settled.is_set():
            return me.outcome()  # type: ignore[no-any-return]
        # deferred: it clashed with another commit of its group, or must land alone


def _take_turn(
    session: Session,
    repo: str,
    branch: str,
    queue: _Queue,
    me: _Pending,
    caller: Caller,
    attempts: int,
) -> None:
    """Queue ``me``; land a group with it when this thread leads, else wait for its outcome."""
    me.deferred = False
    with queue.lock:
        if queue.busy:
            queue.waiting.append(me)
            leading = False
        else:
            queue.busy = True
            leading = True
    if not leading:
        me.settled.wait()
        if not me.lead:
            return
        # woken to lead the next group, with its own commit in it
        me.settled.clear()
        me.lead = me.deferred = False
    deferred: list[_Pending] = []
    try:
        with queue.lock:
            batch = [me, *queue.waiting[: MAX_GROUP - 1]]
            del queue.waiting[: MAX_GROUP - 1]
        try:
            deferred = _land_group(session, repo, branch, batch, caller, attempts)
        except BaseException as exc:
            for pending in batch:
                if not pending.settled.is_set():
                    pending.fail(exc)
            raise
    finally:
        with queue.lock:
            # deferred waiters keep their place at the front; this thread queues its own again
            queue.waiting[:0] = [p for p in deferred if p is not me and not p.settled.is_set()]
            if queue.waiting:
                # hand over: the first waiter lands the next group, its own commit among them
                successor = queue.waiting.pop(0)
                successor.lead = True
                successor.settled.set()
            else:
                queue.busy = False


class _Pending:
    """One commit waiting in a branch's queue: its plan, and how it ended."""

    def __init__(
        self, plan: Callable[[RefState], Change[Any]], exhausted: Callable[[], CatalogError]
    ) -> None:
        self.plan = plan
        self.exhausted = exhausted
        # its plan may run on another thread: it still logs with its own request's id
        self.context = contextvars.copy_context()
        self.settled = threading.Event()
        # set with `settled` when this waiter must land the next group instead of a result
        self.lead = False
        # land alone: a group it was in was refused for a reason not known to be its own
        self.solo = False
        self.deferred = False
        self._result: Any = None
        self._error: BaseException | None = None

    def succeed(self, result: Any) -> None:
        self._result = result
        self.lead = False
        self.settled.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self.lead = False
        self.settled.set()

    def outcome(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result


class _Queue:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = False
        self.waiting: list[_Pending] = []


_queues: dict[tuple[str, ...], _Queue] = {}
_queues_lock = threading.Lock()


def _queue(key: tuple[str, ...]) -> _Queue:
    with _queues_lock:
        queue = _queues.get(key)
        if queue is None:
            if len(_queues) > 10_000:
                # bound memory; only idle queues go (a busy one is still referenced by its run)
                for stale in [k for k, q in _queues.items() if not q.busy and not q.waiting]:
                    del _queues[stale]
            queue = _queues[key] = _Queue()
        return queue


def _groupable(change: Change[Any]) -> bool:
    return change.metadata.get(CATALOG_ACTION) in GROUPABLE_ACTIONS


def _land_group(
    session: Session,
    repo: str,
    branch: str,
    batch: list[_Pending],
    caller: Caller,
    attempts: int,
) -> list[_Pending]:
    """Plan every commit of ``batch`` against one head and land them together, re-planning after
    a lost race; settles each one. Returns the commits deferred to the next group (they clashed
    with one in this group, or must land alone)."""
    unsettled = list(batch)
    deferred: list[_Pending] = []
    # the commit this caller's last landing made: planned on speculatively, while one read of
    # the branch's newest commit (head_now) checks it alongside the staging (_land)
    ahead = SPARES.commit((repo, branch, caller.access_key_id))
    lost = 0
    while lost < attempts:
        head_now: Future[str | None] | None = None
        if ahead is not None:
            head = ahead
            head_now = _uploading.submit(reads.CommitReads.head, session, repo, branch)
        else:
            head = refs.branch_head(session, repo, branch)
        state = RefState(reads.CommitSession(session, head), repo, head)
        plans = _plan_all(unsettled, state)
        if head_now is not None and any(
            isinstance(planned, Exception) or not planned.writes for planned in plans
        ):
            # a plan that answers the client without landing must have seen the head itself
            if head_now.result() != head:
                ahead = None
                continue
            head_now = None
        group: list[tuple[_Pending, Change[Any]]] = []
        paths: set[str] = set()
        for pending, planned in zip(unsettled, plans, strict=True):
            if isinstance(planned, Exception):
                pending.fail(planned)
                continue
            change = planned
            if not change.writes:
                pending.succeed(change.result)
                continue
            touched = {write.path for write in change.writes}
            alone = pending.solo or not _groupable(change)
            first_alone = bool(group) and (group[0][0].solo or not _groupable(group[0][1]))
            if group and (alone or first_alone or touched & paths):
                pending.deferred = True
                deferred.append(pending)
                continue
            group.append((pending, change))
            paths |= touched
        unsettled = []
        if not group:
            return deferred
        writes = [write for _, change in group for write in change.writes]
        files = [work for _, change in group for work in change.files]
        message, metadata = _describe([change for _, change in group], caller)
        try:
            _land(
                session,
                repo,
                branch,
                head,
                writes,
                message,
                metadata,
                files,
                ahead=caller,
                head_now=head_now,
            )
        except _Stale:
            # not a lost race: planned on a commit that is no longer the head
            ahead = None
            unsettled = [pending for pending, _ in group]
            continue
        except _Conflict:
            lost += 1
            unsettled = [pending for pending, _ in group]
            continue
        except (CommitStateUnknown, CommitFailed) as exc:
            # the same for every commit of the group: the merge's answer was lost, or the
            # branch is dirty
            for pending, _ in group:
                pending.fail(exc)
            return deferred
        except Exception as exc:
            if len(group) == 1:
                group[0][0].fail(exc)
                return deferred
            # e.g. a pre-merge hook refused: find whose change it was by landing each alone
            for pending, _ in group:
                pending.solo = pending.deferred = True
                deferred.append(pending)
            return deferred
        for pending, change in group:
            pending.succeed(change.result)
        return deferred
    for pending in unsettled:
        pending.fail(pending.exhausted())
    return deferred


def _plan_all(pendings: list[_Pending], state: RefState) -> list[Change[Any] | Exception]:
    """Each pending commit's plan against ``state`` (side by side when there are several), or
    the exception it raised."""

    def plan(pending: _Pending) -> Change[Any] | Exception:
        try:
            return pending.context.run(pending.plan, state)
        except Exception as exc:
            return exc

    if len(pendings) == 1:
        return [plan(pendings[0])]
    return list(_planning.map(plan, pendings))


def _describe(changes: list[Change[Any]], caller: Caller) -> tuple[str, dict[str, str]]:
    """The lakeFS commit message and metadata of a group: one change's own, or every table,
    snapshot and operation of all of them (DESIGN.md, "Catalog invariants" 3)."""
    if len(changes) == 1:
        return changes[0].message, {**changes[0].metadata, CATALOG_CALLER: caller.user_id}
    entries: list[Any] = []
    tables: list[str] = []
    for change in changes:
        entries.extend(json.loads(change.metadata.get(CATALOG_CHANGES, "[]")))
        tables.append(change.metadata.get(CATALOG_TABLES, ""))
    message = "catalog: commit " + ", ".join(
        change.message.removeprefix("catalog: commit ") for change in changes
    )
    metadata = {
        CATALOG_ACTION: GROUP_ACTION,
        CATALOG_TABLES: ", ".join(t for t in tables if t),
        CATALOG_CHANGES: json.dumps(entries, sort_keys=True),
        CATALOG_CALLER: caller.user_id,
    }
    return message, metadata


def _land(
    session: Session,
    repo: str,
    branch: str,
    head: str,
    writes: list[Write],
    message: str,
    metadata: dict[str, str],
    files: list[Callable[[], None]] | None = None,
    *,
    ahead: Caller | None = None,
    head_now: Future[str | None] | None = None,
) -> None:
    """Land ``writes`` on ``branch`` through a temporary branch at ``head`` (the module's steps
    2 to 4), once ``files`` (:attr:`Change.files`) are done. With ``ahead``, the temporary
    branch made ahead for that caller at ``head`` is used when there is one, and the next one is
    made at the landed commit.

    ``head_now``: the branch's head commit as being read (its log's first entry), when
    ``head`` is only the commit the caller's last landing made; checked once the objects are
    staged, before anything is committed.

    Raises:
        _Stale: ``head_now`` is not ``head`` (nothing landed; the metadata files written are
            collected by ``vxp gc`` like any other unreferenced file).
        _Conflict: the merge conflicted (someone changed one of the same objects since ``head``).
    """
    key = (repo, branch, ahead.access_key_id) if ahead is not None else None
    temp = SPARES.take(key, head) if key is not None else None
    if temp is None:
        # named with its creation time, so a killed catalog's leftovers can be told from live
        # ones; hidden: temporary branches stay out of users' branch listings
        temp = leftovers.new_temp_branch()
        try:
            session.create_branch(repo, temp, head, hidden=True)
        except BaseException:
            leftovers.release(temp)
            raise
    try:
        _stage(session, repo, temp, writes, files or [])
        if head_now is not None and head_now.result() != head:
            raise _Stale
        session.commit(repo, temp, message, metadata)
        try:
            # the landing key lets a lost answer be settled from the branch's log
            landing = {**metadata, leftovers.LANDING: temp}
            merged = session.merge(repo, temp, branch, message, landing, squash=True)
        except LakeFSUnreachable as exc:
            # CommitStateUnknown unless lakeFS shows the merge landed, or that it never left
            if leftovers.settle_lost_merge(session, repo, branch, head, temp, exc):
                return
            raise _Conflict from exc
        except LakeFSConflict as exc:
            raise _Conflict from exc
        except LakeFSPreconditionFailed as exc:
            from vxp.checks.refusals import explain_refusal

            # lakeFS says only "pre-merge hook aborted": the engine's user gets the checks'
            # reasons (which check, which table, how to fix), read from the hook run's output
            raise explain_refusal(session, repo, branch, exc) from exc
        except LakeFSBadRequest as exc:
            # lakeFS refuses (400) to merge into a branch with uncommitted changes
            if session.has_uncommitted(repo, branch):
                raise CommitFailed(
                    f"branch {branch!r} has uncommitted changes, and lakeFS does not merge into a "
                    "dirty branch; commit or reset them, then retry"
                ) from exc
            raise
        # the merged commit holds exactly these objects at these paths (the merge did not
        # conflict): the next load or plan at it needs no lakeFS read of them
        for write in writes:
            reads.SHARED.remember(repo, merged, write.path, write.content)
        _lineage.submit(_derive, session, repo, merged, head, frozenset(w.path for w in writes))
        if key is not None:
            SPARES.make(session, key, merged)
    finally:
        _cleanup.submit(_delete_branch, session, repo, temp)


@dataclass
class _Spare:
    repo: str
    name: str
    commit: str
    made: float
    ready: Future[None]


class _Spares:
    """Temporary branches made ahead, one per (repository, branch, caller key): right after a
    landing, a branch is made at the commit it landed, off the request path, so the caller's next
    commit to that branch skips creating one (one lakeFS call, ~6 ms on the full stack).

    A branch made ahead is used only when the next commit is planned on exactly that commit and
    within :data:`SPARE_SECONDS`; any other is deleted, and an unused one is deleted soon after
    that time is up (within a third of it) or when the catalog stops (:meth:`close`). Each is
    registered with :func:`leftovers.new_temp_branch`, so this process never sweeps it, and a
    killed catalog's are swept like any other temporary branch; gc does not count them as refs
    (:func:`leftovers.made_ahead`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spares: OrderedDict[tuple[str, str, str], tuple[Session, _Spare]] = OrderedDict()
        # deletes unused ones once they are SPARE_SECONDS old; started with the first
        self._reaper: threading.Thread | None = None
        self._maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vxp-catalog-ahead")

    def commit(self, key: tuple[str, str, str]) -> str | None:
        """The commit the branch made ahead for ``key`` sits on, if one is there to take."""
        with self._lock:
            entry = self._spares.get(key)
        if entry is None or time.monotonic() - entry[1].made > SPARE_SECONDS:
            return None
        return entry[1].commit

    def take(self, key: tuple[str, str, str], head: str) -> str | None:
        """The branch made ahead for ``key`` at ``head``, made and now the caller's (it deletes
        it after use); None when there is none to use."""
        with self._lock:
            entry = self._spares.pop(key, None)
        if entry is None:
            return None
        session, spare = entry
        if spare.commit != head or time.monotonic() - spare.made > SPARE_SECONDS:
            self._discard(session, spare)
            return None
        try:
            spare.ready.result()
        except Exception:
            # making it failed (logged by nobody else): the commit makes its own
            leftovers.release(spare.name)
            return None
        return spare.name

    def make(self, session: Session, key: tuple[str, str, str], commit: str) -> None:
        """Start making a branch at ``commit`` for ``key``'s next commit (replaces an older)."""
        name = leftovers.new_temp_branch(ahead=True)
        ready = self._maker.submit(session.create_branch, key[0], name, commit, hidden=True)
        spare = _Spare(key[0], name, commit, time.monotonic(), ready)
        with self._lock:
            old = self._spares.pop(key, None)
            self._spares[key] = (session, spare)
            unused = [old] if old is not None else []
            while len(self._spares) > MAX_SPARES:
                unused.append(self._spares.popitem(last=False)[1])
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=self._reap, name="vxp-catalog-ahead-reaper", daemon=True
                )
                self._reaper.start()
        for entry in unused:
            self._discard(*entry)

    def _reap(self) -> None:
        # a periodic sweep, not one timer per branch: starting a thread cost ~2 ms of a commit
        while True:
            time.sleep(SPARE_SECONDS / 3)
            now = time.monotonic()
            with self._lock:
                keys = [
                    key
                    for key, (_, spare) in self._spares.items()
                    if now - spare.made > SPARE_SECONDS
                ]
                expired = [self._spares.pop(key) for key in keys]
            for entry in expired:
                self._discard(*entry)

    def close(self) -> None:
        """Delete every branch made ahead and not used (the catalog is stopping); returns once
        they are deleted."""
        with self._lock:
            entries = list(self._spares.values())
            self._spares.clear()
        for session, spare in entries:
            self._delete(session, spare)

    def _discard(self, session: Session, spare: _Spare) -> None:
        _cleanup.submit(self._delete, session, spare)

    @staticmethod
    def _delete(session: Session, spare: _Spare) -> None:
        try:
            spare.ready.result()
        except Exception:
            leftovers.release(spare.name)
            return
        _delete_branch(session, spare.repo, spare.name)


SPARES = _Spares()


def _derive(session: Session, repo: str, merged: str, head: str, paths: frozenset[str]) -> None:
    """Let reads at ``merged`` use what is cached at ``head`` when lakeFS shows ``head`` is its
    only parent: the squash merge then holds ``head``'s objects plus exactly ``paths`` (had the
    branch moved on meanwhile, the parent is another commit and nothing is recorded)."""
    try:
        commit = session.get_commit(repo, merged)
    except LakeFSError as exc:
        # only a cache shortcut is lost
        log.debug("could not read commit %s of %s: %s", merged, repo, exc)
        return
    if commit is not None and commit.parents == (head,):
        reads.SHARED.derive(repo, merged, head, paths)


def _stage(
    session: Session, repo: str, temp: str, writes: list[Write], files: list[Callable[[], None]]
) -> None:
    """Stage ``writes`` on ``temp`` and do ``files``, all at once; raises the first failure
    once every one has ended. Nothing is committed yet, so a pointer is never visible before
    the file it names is written."""

    def stage(write: Write) -> None:
        if write.content is None:
            session.delete_object(repo, temp, write.path)
        else:
            session.upload_object(repo, temp, write.path, write.content)

    work: list[Callable[[], None]] = [*files, *(partial(stage, write) for write in writes)]
    if not work:
        return
    # the last task runs on this thread: one hand-over less
    futures = [_uploading.submit(task) for task in work[:-1]]
    errors: list[BaseException] = []
    try:
        work[-1]()
    except Exception as exc:
        errors.append(exc)
    # every upload has ended before the temporary branch may be deleted
    errors += [error for error in (future.exception() for future in futures) if error is not None]
    if errors:
        raise errors[0]


def _delete_branch(session: Session, repo: str, temp: str) -> None:
    try:
        session.delete_branch(repo, temp)
    except (CatalogError, LakeFSError) as exc:
        # the change itself is settled; a leftover is deleted by a later sweep (leftovers.py)
        log.warning("could not delete temporary branch %s/%s: %s", repo, temp, exc)
    finally:
        leftovers.release(temp)
