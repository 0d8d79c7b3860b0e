"""Reads of catalog objects at a commit ID, cached: a lakeFS commit never changes.

A load at a branch or tag costs lakeFS one cheap call, the ref's head commit (``GET
…/refs/{ref}/commits?amount=1``, about half of what reading the object at the branch costs), and
the pointer itself comes from memory whenever that commit was read before — which is every load
until the branch moves. Reading at the head commit ignores uncommitted objects on the branch, as
writers already do (:mod:`catalog.commits` plans against the head commit ID): the catalog's own
changes are always commits.

The cache holds only what a commit contains (an object's bytes or its absence), so it can never be
stale; the head is asked for on every request with the caller's own credentials, so a caller who
may not read the repository never gets a cached object of it.

A commit the catalog landed is also recorded as *derived* from the commit it was planned on,
once lakeFS shows that commit is its parent: it then holds the same objects except the ones the
catalog wrote (which are cached with it). A read at the new commit that misses the cache is
answered from the parent's entry, so writers of different tables of one branch do not read every
other table's pointer again after each landing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from vxp.lakefs import LakeFSBadRequest, LakeFSNotFound, Session

# objects cached; pointers and namespace markers are a few hundred bytes each
DEFAULT_ENTRIES = 100_000
# how many parent links a read follows before asking lakeFS
MAX_DEPTH = 64


class CommitReads:
    """Objects read at commit IDs, in an LRU of ``max_entries`` entries; thread-safe.

    Args:
        max_entries: how many (repository, commit, path) reads to keep.
    """

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, str, str], bytes | None] = OrderedDict()
        # (repository, commit) -> (parent, the paths that differ from the parent)
        self._parents: OrderedDict[tuple[str, str], tuple[str, frozenset[str]]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    @staticmethod
    def head(session: Session, repo: str, ref: str) -> str | None:
        """The commit ID ``ref`` (a branch, tag, commit ID or ref expression) names now; None when
        the ref or the repository does not exist or ``ref`` is not a valid ref.

        One lakeFS call: the first entry of the ref's log.

        Raises:
            LakeFSError: lakeFS refused otherwise or cannot be reached.
        """
        try:
            return session.newest_commit_id(repo, ref)
        except (LakeFSNotFound, LakeFSBadRequest):
            return None

    def get(self, session: Session, repo: str, commit: str, path: str) -> bytes | None:
        """The object at ``path`` in ``commit`` (None when it has none), from memory when read
        before.

        Raises:
            LakeFSError: lakeFS refused otherwise or cannot be reached.
        """
        key = (repo, commit, path)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            found, content = self._inherited(repo, commit, path)
        if not found:
            # the gateway's own read, also when ``session`` is a CommitSession
            content = Session.get_object(session, repo, commit, path)
        self.remember(repo, commit, path, content)
        return content

    def _inherited(self, repo: str, commit: str, path: str) -> tuple[bool, bytes | None]:
        """What an ancestor recorded with :meth:`derive` holds at ``path`` (caller holds the
        lock); (False, None) when no cached ancestor has it."""
        for _ in range(MAX_DEPTH):
            link = self._parents.get((repo, commit))
            if link is None or path in link[1]:
                # a path the child changed is cached with the child itself, or was evicted
                return False, None
            commit = link[0]
            key = (repo, commit, path)
            if key in self._entries:
                return True, self._entries[key]
        return False, None

    def derive(self, repo: str, child: str, parent: str, paths: frozenset[str]) -> None:
        """Record that commit ``child`` holds exactly what ``parent`` holds except at ``paths``
        (the caller checked lakeFS: ``parent`` is the child's parent and the change wrote only
        those paths), so reads at ``child`` may be answered from ``parent``'s entries."""
        with self._lock:
            self._parents[(repo, child)] = (parent, paths)
            while len(self._parents) > self._max:
                self._parents.popitem(last=False)

    def remember(self, repo: str, commit: str, path: str, content: bytes | None) -> None:
        """Record what ``commit`` holds at ``path`` (the catalog just wrote it there), so the
        next read at that commit needs no lakeFS call."""
        with self._lock:
            self._entries[(repo, commit, path)] = content
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


#: the process's cache, shared by every reader (what it holds is the same for every caller)
SHARED = CommitReads()


class CommitSession(Session):
    """``session``, but its object reads at ``commit`` come through :data:`SHARED`; every other
    call is the session's own. For :class:`~vxp.catalog.state.RefState` at a commit ID."""

    def __init__(self, session: Session, commit: str) -> None:
        # the same pool and credentials (the gateway keeps them private)
        super().__init__(session._http, session._auth)
        self._commit = commit

    def get_object(self, repo: str, ref: str, path: str) -> bytes | None:
        """:meth:`Session.get_object`, from the cache when ``ref`` is this session's commit.

        Raises:
            LakeFSError: lakeFS refused otherwise or cannot be reached.
        """
        if ref == self._commit:
            return SHARED.get(self, repo, ref, path)
        return super().get_object(repo, ref, path)
