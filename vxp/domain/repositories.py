"""Repositories and their layer branches.

A repository holds one data domain; ``source`` (raw, immutable) and ``integration`` (normalised,
the default users read) are layer branches, protected so they change only by merge
(DESIGN.md, "Versioning model").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vxp.core.errors import AlreadyExists, NotFound
from vxp.core.names import DEFAULT_BRANCH, LAYER_BRANCHES, validate_repository_name
from vxp.lakefs import LakeFSAlreadyExists, LakeFSError, LakeFSNotFound, Session

__all__ = ["Repository", "create_repository", "get_repository", "list_repositories"]


@dataclass(frozen=True)
class Repository:
    """A repository and the commit its layer branches point at.

    Attributes:
        name: the repository name.
        heads: layer branch (``source``, ``integration``) → its head commit ID, or None when the
            repository lacks that branch (made outside vxp).
    """

    name: str
    heads: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        """``{"name": …, "layers": {branch: commit ID or null}}`` for ``--format json``."""
        return {"name": self.name, "layers": self.heads}


def create_repository(session: Session, name: str, storage_namespace_prefix: str) -> Repository:
    """Create ``name`` with the protected layer branches ``source`` and ``integration``.

    ``integration`` is lakeFS's default branch, ``source`` is cut from its first commit, and
    both are protected so they change only by merge (DESIGN.md, "Versioning model").

    Args:
        name: the repository name (lakeFS's rule: 3-63 lower-case letters, digits and ``-``).
        storage_namespace_prefix: where lakeFS keeps its objects, e.g. ``local://`` or
            ``s3://lakefs/``; the repository's storage namespace is this plus ``name``.

    Raises:
        InvalidInput: the name breaks lakeFS's rule.
        AlreadyExists: a repository of that name exists.
        LakeFSError: lakeFS refused a step; a half-made repository is removed first.
    """
    validate_repository_name(name)
    try:
        session.create_repository(name, f"{storage_namespace_prefix}{name}", DEFAULT_BRANCH)
    except LakeFSAlreadyExists as exc:
        raise AlreadyExists(
            f"repository {name!r} exists already",
            hint=f"use it (--repo {name}), or pick another name; `vxp repo list` shows them all",
        ) from exc
    try:
        session.create_branch(name, "source", DEFAULT_BRANCH)
        # merge-only: direct writes and commits to layer branches are refused by lakeFS itself
        session.set_branch_protection(name, LAYER_BRANCHES)
    except LakeFSError:
        # a half-made repository would be worse than none: remove it, then report
        session.delete_repository(name)
        raise
    return get_repository(session, name)


def get_repository(session: Session, name: str) -> Repository:
    """The repository ``name`` with its layer branches' heads.

    Raises:
        NotFound: no repository of that name.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    try:
        heads = session.branch_heads(name)
    except LakeFSNotFound as exc:
        raise NotFound(
            f"repository {name!r} does not exist",
            hint="`vxp repo list` shows the repositories; `vxp repo create NAME` makes one",
        ) from exc
    return Repository(name, {layer: heads.get(layer) for layer in LAYER_BRANCHES})


def list_repositories(session: Session) -> list[Repository]:
    """Every repository the caller can see, in name order, with its layer heads.

    Raises:
        NotFound: a repository was deleted between listing and reading it.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    return [get_repository(session, name) for name in session.list_repositories()]
