"""Crash hygiene of the commit protocol (:mod:`vxp.catalog.commits`): temporary branches that no
commit can finish any more, and merges whose answer was lost.

**Temporary branches.** Every catalog write lands through a hidden branch named
``vxp-catalog-<ms>-<random>`` (``vxp-catalog-<ms>-ahead-<random>`` when it is made ahead for a
caller's next commit), where ``<ms>`` is the hexadecimal Unix time in milliseconds at which it was
made. A branch older than the *lease* (``Settings.temp_branch_lease_seconds``, 15 minutes
by default) belongs to a commit that can no longer finish: each of a commit's few lakeFS calls
gives up after 30 seconds. Such a branch is a leftover of a killed catalog; it is deleted by
:func:`sweep`, which the catalog runs in the background the first time a caller touches a
repository after the catalog started, and again once per lease while it runs; ``vxp gc`` runs
it too before marking, so a leftover's files are collectable. A branch this process made is
never deleted by it, whatever its age (:func:`new_temp_branch` registers it until
:func:`release`). Names of the older form ``vxp-catalog-<20 hex digits>`` carry no time: they
are deleted when their head commit is older than the lease (a catalog of that version is not
running any more once this one is).

**Lost merge answers.** When the merge request's answer is lost (a timeout, a dropped
connection), :func:`settle_lost_merge` asks lakeFS what really happened: the merge's commit
carries ``vxp.catalog.landing`` = the temporary branch's name, so finding it on the branch proves
the change landed; a request that never left (connection refused, no connection free) certainly
did not land and may be re-planned; anything else is looked for again for a short while, and
only then answered as unknown, with the reason in the log.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from vxp.catalog.errors import CommitStateUnknown
from vxp.core.names import CATALOG_BRANCH_PREFIX
from vxp.lakefs import LakeFSError, LakeFSNotFound, LakeFSUnreachable, Session

log = logging.getLogger(__name__)

# the commit metadata key that names the temporary branch a merge came from
LANDING = "vxp.catalog.landing"
DEFAULT_LEASE_SECONDS = 900
# the infix of a branch made ahead for a caller's next commit (catalog.commits._Spares)
AHEAD = "ahead-"
_NAME = re.compile(rf"^{CATALOG_BRANCH_PREFIX}([0-9a-f]{{11,13}})-({AHEAD})?[0-9a-f]{{16}}$")
_LEGACY = re.compile(r"^vxp-catalog-[0-9a-f]{20}$")
# how many commits of a branch's log to search for a lost merge's commit
_LOG_DEPTH = 200

_live: set[str] = set()
_live_lock = threading.Lock()
_swept: dict[str, float] = {}
_sweeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vxp-catalog-sweep")


def new_temp_branch(now: float | None = None, *, ahead: bool = False) -> str:
    """A fresh temporary branch name, registered as in use by this process until
    :func:`release`.

    Args:
        now: Unix time in seconds (default: the clock's).
        ahead: a branch made ahead at a commit of the target branch, for a commit that has not
            arrived yet (``vxp-catalog-<ms>-ahead-<random>``; see :func:`made_ahead`).
    """
    millis = int((time.time() if now is None else now) * 1000)
    name = f"{CATALOG_BRANCH_PREFIX}{millis:x}-{AHEAD if ahead else ''}{uuid.uuid4().hex[:16]}"
    with _live_lock:
        _live.add(name)
    return name


def release(name: str) -> None:
    """``name`` is no longer in use by this process (it was deleted, or deleting it failed)."""
    with _live_lock:
        _live.discard(name)


def made_ahead(name: str) -> bool:
    """Whether ``name`` is a branch the catalog made ahead for a caller's next commit. It starts
    at a commit the target branch had and holds nothing of its own until a commit uses it, so gc
    does not count it as a retained ref: a commit in flight is kept by gc's age margin, as every
    writer's new files are."""
    match = _NAME.match(name)
    return bool(match and match.group(2))


def made_at(name: str) -> float | None:
    """When a temporary branch of the current form was made (Unix seconds), else None."""
    match = _NAME.match(name)
    return int(match.group(1), 16) / 1000 if match else None


def is_leftover(
    name: str, head_date: datetime | None, now: float, lease_seconds: float
) -> str | None:
    """Why ``name`` is a leftover to delete, or None to keep it.

    Args:
        head_date: the date of the branch's head commit (consulted for names without a time).
        now: Unix time in seconds.
        lease_seconds: how long a temporary branch may live.
    """
    with _live_lock:
        if name in _live:
            return None
    made = made_at(name)
    if made is not None:
        age = now - made
        if age > lease_seconds:
            return f"made {age:.0f} s ago, past the {lease_seconds:.0f} s lease"
        return None
    if _LEGACY.match(name) and head_date is not None:
        age = now - head_date.timestamp()
        if age > lease_seconds:
            return f"an older catalog's branch whose head commit is {age:.0f} s old"
    return None


def sweep(
    session: Session,
    repo: str,
    lease_seconds: float,
    now: float | None = None,
    *,
    dry_run: bool = False,
) -> list[str]:
    """Delete the leftover temporary branches of ``repo`` (see the module docstring).

    Args:
        lease_seconds: how long a temporary branch may live, in seconds.
        now: Unix time in seconds (default: the clock's).
        dry_run: only name them.

    Returns:
        The names deleted (each logged with why), or with ``dry_run`` those that would be.

    Raises:
        LakeFSError: listing the branches failed (one branch that cannot be deleted is logged and
            skipped).
    """
    now = time.time() if now is None else now
    deleted: list[str] = []
    heads = session.branch_heads(repo, hidden=True)
    for name, head in heads.items():
        if not name.startswith(CATALOG_BRANCH_PREFIX):
            continue
        head_date = None
        if made_at(name) is None and _LEGACY.match(name):
            commit = session.get_commit(repo, head)
            head_date = commit.date if commit is not None else None
        why = is_leftover(name, head_date, now, lease_seconds)
        if why is None:
            continue
        if dry_run:
            deleted.append(name)
            continue
        try:
            session.delete_branch(repo, name)
        except LakeFSNotFound:
            continue  # its own commit deleted it meanwhile
        except LakeFSError as exc:
            log.warning("could not delete leftover temporary branch %s/%s: %s", repo, name, exc)
            continue
        log.info("deleted leftover temporary branch %s/%s: %s", repo, name, why)
        deleted.append(name)
    return deleted


def sweep_soon(
    session: Session, repo: str, lease_seconds: float, clock: Callable[[], float] = time.time
) -> None:
    """Run :func:`sweep` for ``repo`` in the background, at most once per lease per process and
    repository (the catalog serves one lakeFS installation); never raises (failures are logged).
    """
    key = repo
    now = clock()
    with _live_lock:
        last = _swept.get(key)
        if last is not None and now - last < lease_seconds:
            return
        _swept[key] = now
        if len(_swept) > 10_000:
            _swept.clear()
            _swept[key] = now
    _sweeper.submit(_sweep_logged, session, repo, lease_seconds)


def _sweep_logged(session: Session, repo: str, lease_seconds: float) -> None:
    try:
        sweep(session, repo, lease_seconds)
    except Exception as exc:  # a background task: its failure must not go unseen
        log.warning("could not look for leftover temporary branches of %s: %s", repo, exc)


def _never_sent(error: BaseException) -> bool:
    # the request never reached lakeFS: no connection was made, or none was free in the pool
    cause = error.__cause__
    return isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def find_landing(session: Session, repo: str, branch: str, base: str, temp: str) -> bool:
    """True when a commit made from ``temp`` is on ``branch`` since ``base`` (the head it was
    planned on), looking at most 200 commits back.

    Raises:
        LakeFSError: lakeFS cannot be read.
    """
    for commit in itertools.islice(session.log(repo, branch), _LOG_DEPTH):
        if commit.metadata.get(LANDING) == temp:
            return True
        if commit.id == base:
            return False
    return False


def settle_lost_merge(
    session: Session,
    repo: str,
    branch: str,
    base: str,
    temp: str,
    lost: LakeFSUnreachable,
    *,
    checks: int = 4,
    wait: Callable[[float], None] = time.sleep,
) -> bool:
    """Whether a merge whose answer was lost landed, from lakeFS's real state.

    Args:
        base: the head commit the change was planned on.
        temp: the temporary branch that was merged (the ``vxp.catalog.landing`` of its commit).
        lost: the error that lost the answer.
        checks: how many times to look (with 1, 2, 4… seconds between) before giving up.
        wait: sleeps that many seconds (tests pass their own).

    Returns:
        True: it landed. False: it certainly did not (the request never reached lakeFS).

    Raises:
        CommitStateUnknown: it was not found, yet the request may have reached lakeFS (or lakeFS
            cannot be read); the log says why.
    """
    reason = f"{lost.message} ({type(lost.__cause__).__name__}: {lost.detail})"
    for attempt in range(checks):
        if attempt:
            wait(float(2 ** (attempt - 1)))
        try:
            if find_landing(session, repo, branch, base, temp):
                log.warning(
                    "the answer to the merge of %s into %s/%s was lost (%s), but lakeFS has its "
                    "commit: the change landed",
                    temp,
                    repo,
                    branch,
                    reason,
                )
                return True
        except LakeFSError as exc:
            reason = f"{reason}; then lakeFS could not be read: {exc.message}"
            continue
        if _never_sent(lost):
            log.warning(
                "the merge of %s into %s/%s never reached lakeFS (%s) and did not land: re-planned",
                temp,
                repo,
                branch,
                reason,
            )
            return False
    log.error(
        "the answer to the merge of %s into %s/%s was lost (%s) and its commit is not on the "
        "branch after %d looks: the merge may still be running in lakeFS, or failed",
        temp,
        repo,
        branch,
        reason,
        checks,
    )
    raise CommitStateUnknown(
        f"lost the answer to the lakeFS merge into {branch!r}, and lakeFS does not show it yet; "
        "the commit may or may not land (reload the table to find out)"
    ) from lost
