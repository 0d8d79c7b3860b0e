"""Warehouses, refs and namespaces: where in lakeFS a REST request's objects live.

Warehouse ``<repo>`` is repository-scoped: the first namespace level names a ref (branch, tag or
commit ID), so every version is addressable from one configured catalog. Warehouse
``<repo>.<ref>`` is ref-scoped: namespaces are plain, for tools that expect an ordinary catalog.
lakeFS repository names cannot contain dots, so the first dot always ends the repository name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote

from vxp.catalog.errors import BadRequest, NoSuchNamespace, NoSuchWarehouse, ReadOnlyRef
from vxp.catalog.state import validate_name
from vxp.lakefs import LakeFSNotFound, Session

_REPO = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")


@dataclass(frozen=True)
class Warehouse:
    """A warehouse a client named: ``<repo>`` (repository-scoped) or ``<repo>.<ref>`` (ref-scoped).

    Attributes:
        repo: the lakeFS repository.
        ref: the ref of a ref-scoped warehouse; None when the first namespace level is the ref
            (DESIGN.md, "Catalog invariants" 2).
    """

    repo: str
    # None: repository-scoped, the first namespace level is the ref
    ref: str | None = None

    @property
    def name(self) -> str:
        """The warehouse's name as clients send it: ``<repo>`` or ``<repo>.<ref>``."""
        return self.repo if self.ref is None else f"{self.repo}.{self.ref}"

    @property
    def prefix(self) -> str:
        """The ``{prefix}`` path segment of every route for this warehouse."""
        return quote(self.name, safe="")

    def locate(self, namespace: tuple[str, ...]) -> Location:
        """Split a REST namespace into the ref it lives in and its namespace within that ref.

        Raises:
            BadRequest: the warehouse is repository-scoped and ``namespace`` is empty.
        """
        if self.ref is not None:
            return Location(self.repo, self.ref, namespace)
        if not namespace:
            raise BadRequest(
                f"warehouse {self.repo!r} is repository-scoped: the first namespace level must "
                f"be a branch, tag or commit ID (e.g. integration.{'.'.join(namespace) or 'x'}), "
                f"or use warehouse '{self.repo}.<ref>'"
            )
        return Location(self.repo, namespace[0], namespace[1:])

    def rest_namespace(self, ref: str, namespace: tuple[str, ...]) -> tuple[str, ...]:
        """The inverse of :meth:`locate`."""
        return namespace if self.ref is not None else (ref, *namespace)


def parse_warehouse(name: str) -> Warehouse:
    """The warehouse ``name`` names; the first dot ends the repository name (lakeFS repository
    names hold no dots).

    Raises:
        BadRequest: the repository part breaks lakeFS's repository-name rule, nothing follows
            the dot, or the ref breaks a name rule (:func:`vxp.catalog.state.validate_name`).
    """
    repo, dot, ref = name.partition(".")
    if not _REPO.match(repo):
        raise BadRequest(
            f"warehouse {name!r} is not '<repository>' or '<repository>.<ref>' "
            "(repository names are 3-63 lower-case letters, digits and dashes)"
        )
    if dot and not ref:
        raise BadRequest(f"warehouse {name!r} names no ref after the dot")
    if ref:
        # the ref becomes a lakeFS URL path segment, where ".." would climb out of the ref
        validate_name("ref", ref)
    return Warehouse(repo, ref or None)


@dataclass(frozen=True)
class Location:
    """A namespace inside one ref of one repository."""

    repo: str
    ref: str
    namespace: tuple[str, ...]


class RefKind(Enum):
    """What a ref is; tags and commits are read-only (DESIGN.md, "Catalog invariants" 2)."""

    BRANCH = "branch"
    TAG = "tag"
    COMMIT = "commit"


@dataclass(frozen=True)
class ResolvedRef:
    """A ref, resolved.

    Attributes:
        kind: branch, tag or commit.
        commit_id: the commit it points at now.
    """

    kind: RefKind
    commit_id: str


def check_warehouse(session: Session, warehouse: Warehouse) -> None:
    """Check that ``warehouse``'s repository (and ref, if it names one) exist.

    Raises:
        NoSuchWarehouse: the repository or the ref does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    if not session.repository_exists(warehouse.repo):
        raise NoSuchWarehouse(
            f"warehouse {warehouse.name!r}: lakeFS repository {warehouse.repo!r} does not exist"
        )
    if warehouse.ref is not None:
        resolve(session, warehouse.repo, warehouse.ref, missing=NoSuchWarehouse)


def resolve(
    session: Session,
    repo: str,
    ref: str,
    missing: type[NoSuchNamespace] | type[NoSuchWarehouse] = NoSuchNamespace,
) -> ResolvedRef:
    """What ``ref`` is and which commit it points at; branches are tried first (the common case).

    Args:
        missing: the error to raise for a missing ref.

    Raises:
        NoSuchNamespace: (or ``missing``) ``ref`` is no branch, tag or commit of ``repo``.
        LakeFSNotFound: ``repo`` does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    head = session.branch_head(repo, ref)
    if head is not None:
        return ResolvedRef(RefKind.BRANCH, head)
    tagged = session.tag_commit(repo, ref)
    if tagged is not None:
        return ResolvedRef(RefKind.TAG, tagged)
    try:
        commit = session.resolve_commit(repo, ref)
    except LakeFSNotFound as exc:
        # the gateway says so when the repository itself is missing
        raise NoSuchWarehouse(f"lakeFS repository {repo!r} does not exist") from exc
    if commit is not None:
        return ResolvedRef(RefKind.COMMIT, commit)
    raise missing(f"ref {ref!r} does not exist in lakeFS repository {repo!r}")


def branch_head(session: Session, repo: str, ref: str) -> str:
    """The head commit of branch ``ref``; a clear error when ``ref`` is a tag or commit.

    Raises:
        ReadOnlyRef: ``ref`` is a tag or a commit ID (writes need a branch).
        NoSuchNamespace: ``ref`` does not exist.
        LakeFSNotFound: ``repo`` does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    head = session.branch_head(repo, ref)
    if head is not None:
        return head
    resolved = resolve(session, repo, ref)
    if resolved.kind is RefKind.TAG:
        raise ReadOnlyRef(f"ref {ref!r} is a tag; tags are read-only (write to a branch)")
    raise ReadOnlyRef(
        f"ref {ref!r} is a commit ({resolved.commit_id[:12]}); commits are read-only "
        "(write to a branch)"
    )
