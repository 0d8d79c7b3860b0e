"""Branches, commits, history and snapshots of a repository, over the lakeFS gateway.

Layer branches (``source``, ``integration``) change only by merge (:mod:`vxp.domain.merging`)
and are never deleted here; snapshots are lakeFS tags, so they pin a commit ID for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vxp.core.errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from vxp.core.metadata import (
    CATALOG_ACTION,
    CATALOG_CALLER,
    CATALOG_CHANGES,
    CATALOG_NAMESPACE,
    CATALOG_TABLES,
    RESERVED_PREFIXES,
)
from vxp.core.names import DEFAULT_BRANCH, LAYER_BRANCHES, validate_branch_name
from vxp.domain.table_changes import MetadataChange
from vxp.lakefs import (
    Commit,
    LakeFSAlreadyExists,
    LakeFSBadRequest,
    LakeFSForbidden,
    LakeFSNotFound,
    Session,
)


def resolve(session: Session, repo: str, ref: str) -> str:
    """The commit ID of ``ref`` (branch, tag, commit ID or ref expression such as ``main~1``).

    Raises:
        NotFound: the repository or the ref does not exist; the message names which.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    try:
        commit = session.resolve_commit(repo, ref)
    except LakeFSNotFound as exc:
        raise NotFound(
            f"repository {repo!r} does not exist",
            hint="pass --repo NAME (or set VXP_REPO); `vxp repo list` shows the repositories",
        ) from exc
    if commit is None:
        raise NotFound(
            f"ref {ref!r} does not exist in repository {repo!r}",
            hint="a ref is a branch, a tag (snapshot) or a commit ID; "
            f"`vxp branch list --repo {repo}` and `vxp snapshot list --repo {repo}` show them",
        )
    return commit


# --- branches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """A branch and its head commit.

    Attributes:
        name: the branch name.
        commit_id: its head commit ID.
    """

    name: str
    commit_id: str

    @property
    def layer(self) -> bool:
        """True for the layer branches (``source``, ``integration``), which change only by merge."""
        return self.name in LAYER_BRANCHES

    def to_json(self) -> dict[str, Any]:
        """``{"name", "commit_id", "layer"}`` for ``--format json``."""
        return {"name": self.name, "commit_id": self.commit_id, "layer": self.layer}


def list_branches(session: Session, repo: str) -> list[Branch]:
    """The repository's branches in name order (the catalog's hidden temporary branches excluded).

    Raises:
        NotFound: no such repository.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    try:
        heads = session.branch_heads(repo)
    except LakeFSNotFound as exc:
        raise _no_repository(repo) from exc
    return [Branch(name, commit_id) for name, commit_id in heads.items()]


def create_branch(session: Session, repo: str, name: str, source: str) -> Branch:
    """Branch ``name`` from ``source`` (branch, tag or commit): O(1), tables included.

    Tables come along because their catalog entries are objects of the ref (DESIGN.md,
    "Catalog invariants" 1).

    Raises:
        InvalidInput: ``name`` breaks lakeFS's branch-name rule.
        AlreadyExists: a branch of that name exists.
        NotFound: no such repository or ``source``.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    validate_branch_name(name)
    resolve(session, repo, source)
    try:
        session.create_branch(repo, name, source)
    except LakeFSAlreadyExists as exc:
        raise AlreadyExists(
            f"branch {name!r} exists already in {repo!r}",
            hint="pick another name, or `vxp branch delete` the old one first",
        ) from exc
    return Branch(name, resolve(session, repo, name))


def delete_branch(session: Session, repo: str, name: str) -> None:
    """Delete a work branch; its commits stay reachable from tags and merges.

    Raises:
        Forbidden: ``name`` is a layer branch (checked here: lakeFS's branch protection does not
            stop deletion).
        NotFound: no such repository or branch.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    if name in LAYER_BRANCHES:
        # lakeFS branch protection refuses writes to these branches, not their deletion
        raise Forbidden(
            f"{name!r} is a layer branch of {repo!r}; vxp never deletes layer branches",
            hint="layer branches change only by merge; delete the work branch you merged from",
        )
    try:
        session.delete_branch(repo, name)
    except LakeFSNotFound as exc:
        raise NotFound(
            f"branch {name!r} does not exist in repository {repo!r}",
            hint=f"`vxp branch list --repo {repo}` shows the branches",
        ) from exc


# --- commits and history -------------------------------------------------------------------


@dataclass(frozen=True)
class TableChange:
    """One table a catalog commit changed, as named in its ``vxp.catalog.changes`` metadata.

    Attributes:
        table: the dotted name.
        snapshot_id: its current snapshot after the commit.
        operation: that snapshot's operation, as the catalog recorded it.
        metadata_location: its metadata file after the commit.
        what: what the commit changed, read from the table's metadata
            (:func:`vxp.domain.history.log` fills it in; None here).
    """

    table: str
    snapshot_id: int | None
    operation: str | None
    metadata_location: str | None = None
    what: MetadataChange | None = None


@dataclass(frozen=True)
class CommitInfo:
    """One commit as ``vxp log`` shows it.

    Attributes:
        id: the commit ID.
        parents: parent commit IDs (two for a merge).
        committer: the lakeFS user ID that made it.
        date: when it was made (UTC).
        message: the commit message.
        metadata: its key-value metadata.
        catalog_action: for commits the catalog made: create-table, commit-table, drop-table, …
            (``vxp.catalog.action``); None for other commits.
        tables: the tables such a commit changed (``vxp.catalog.changes``).
    """

    id: str
    parents: list[str]
    committer: str
    date: datetime
    message: str
    metadata: dict[str, str]
    # set for commits the catalog made: create-table, commit-table, drop-table, …
    catalog_action: str | None = None
    tables: list[TableChange] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The commit for ``--format json``; ``catalog`` is null unless the catalog made it."""
        return {
            "id": self.id,
            "parents": self.parents,
            "committer": self.committer,
            "date": self.date.isoformat(),
            "message": self.message,
            "metadata": self.metadata,
            "catalog": None
            if self.catalog_action is None
            else {
                "action": self.catalog_action,
                "caller": self.metadata.get(CATALOG_CALLER),
                "namespace": self.metadata.get(CATALOG_NAMESPACE),
                "tables": [
                    {
                        "table": t.table,
                        "snapshot_id": t.snapshot_id,
                        "operation": t.operation,
                        "what": t.what.to_json() if t.what is not None else None,
                    }
                    for t in self.tables
                ],
            },
        }


def _commit_info(commit: Commit) -> CommitInfo:
    metadata = dict(commit.metadata)
    return CommitInfo(
        id=commit.id,
        parents=list(commit.parents),
        committer=commit.committer,
        date=commit.date,
        message=commit.message,
        metadata=metadata,
        catalog_action=metadata.get(CATALOG_ACTION),
        tables=_table_changes(metadata),
    )


def _table_changes(metadata: dict[str, str]) -> list[TableChange]:
    raw = metadata.get(CATALOG_CHANGES)
    if raw is None:
        # rename commits name both tables but carry no per-table entries
        tables = metadata.get(CATALOG_TABLES)
        return [TableChange(t, None, None) for t in tables.split(", ")] if tables else []
    try:
        entries = json.loads(raw)
        return [
            TableChange(
                ".".join(entry["table"]),
                entry.get("snapshot-id"),
                entry.get("operation"),
                entry.get("metadata-location"),
            )
            for entry in entries
        ]
    except (ValueError, TypeError, KeyError):
        # written by a different catalog version or by hand: show the commit, not a traceback
        return []


def log(
    session: Session, repo: str, ref: str, limit: int, *, first_parent: bool = False
) -> list[CommitInfo]:
    """The newest ``limit`` commits reachable from ``ref``, newest first (every parent is
    followed; with ``first_parent`` only a merge commit's first parent, the line of the branch
    merged into, as lakeFS's ``logCommits`` ``first_parent``).

    Raises:
        NotFound: no such repository or ref.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    commit = resolve(session, repo, ref)
    commits: list[CommitInfo] = []
    for entry in session.log(repo, commit, first_parent=first_parent):
        commits.append(_commit_info(entry))
        if len(commits) >= limit:
            break
    return commits


def parse_metadata(pairs: list[str]) -> dict[str, str]:
    """``key=value`` pairs from the command line, split at the first ``=``.

    Raises:
        InvalidInput: a pair has no ``=`` or an empty key, or a key is reserved
            (``vxp.catalog.*``, ``vxp.merge.*``, ``.lakefs.*``:
            :data:`vxp.core.metadata.RESERVED_PREFIXES`).
    """
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"commit metadata {pair!r} is not key=value")
        if key.startswith(RESERVED_PREFIXES):
            raise InvalidInput(
                f"commit metadata key {key!r} is reserved",
                hint=f"keys starting with {' or '.join(RESERVED_PREFIXES)} are "
                "written by vxp (catalog commits, merges) and lakeFS",
            )
        metadata[key] = value
    return metadata


def commit(
    session: Session, repo: str, branch: str, message: str, metadata: dict[str, str]
) -> CommitInfo:
    """Commit the branch's staged (uncommitted) changes.

    Raises:
        InvalidInput: nothing is staged.
        Forbidden: ``branch`` is protected (a layer branch changes only by merge).
        NotFound: no such repository or branch.
        LakeFSPreconditionFailed: a pre-commit hook refused the commit.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    try:
        staged = session.has_uncommitted(repo, branch)
    except LakeFSNotFound as exc:
        resolve(session, repo, branch)
        raise NotFound(f"branch {branch!r} does not exist in repository {repo!r}") from exc
    if not staged:
        raise InvalidInput(
            f"nothing to commit on {repo}/{branch}: no staged changes",
            hint="upload or delete objects on the branch first; table writes through the "
            "catalog are committed as they happen",
        )
    try:
        created = session.commit_details(repo, branch, message, metadata)
    except LakeFSForbidden as exc:
        raise Forbidden(
            f"{repo}/{branch} refused the commit: it is a protected branch",
            hint="layer branches change only by merge: commit on a work branch "
            "(vxp branch create NAME) and merge it"
            if branch in LAYER_BRANCHES
            else None,
        ) from exc
    return _commit_info(created)


# --- snapshots -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A snapshot: a lakeFS tag, which pins one commit (and every table in it) for good.

    Attributes:
        name: the tag name.
        commit_id: the commit it pins.
        date: that commit's date (UTC).
        message: that commit's message.
    """

    name: str
    commit_id: str
    date: datetime
    message: str

    def to_json(self) -> dict[str, Any]:
        """``{"name", "commit_id", "date" (ISO 8601), "message"}`` for ``--format json``."""
        return {
            "name": self.name,
            "commit_id": self.commit_id,
            "date": self.date.isoformat(),
            "message": self.message,
        }


def _snapshot(session: Session, repo: str, name: str, commit_id: str) -> Snapshot:
    commit = session.get_commit(repo, commit_id)
    if commit is None:
        raise NotFound(f"the commit {commit_id[:12]} of snapshot {name!r} is gone")
    return Snapshot(name, commit_id, commit.date, commit.message)


def create_snapshot(session: Session, repo: str, name: str, ref: str = DEFAULT_BRANCH) -> Snapshot:
    """Tag the commit ``ref`` points at now; the tag pins it (and every table in it) for good.

    Raises:
        NotFound: no such repository or ref.
        AlreadyExists: a snapshot (tag) of that name exists.
        InvalidInput: ``name`` breaks lakeFS's tag-name rule.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    commit_id = resolve(session, repo, ref)
    try:
        session.create_tag(repo, name, commit_id)
    except LakeFSAlreadyExists as exc:
        raise AlreadyExists(
            f"snapshot {name!r} exists already in {repo!r}",
            hint="snapshots never move; pick a new name (e.g. v2)",
        ) from exc
    except LakeFSBadRequest as exc:
        raise InvalidInput(
            f"invalid snapshot name {name!r}",
            hint="use letters, digits, '_', '-' and '.' (lakeFS's tag rule)",
        ) from exc
    return _snapshot(session, repo, name, commit_id)


def list_snapshots(session: Session, repo: str) -> list[Snapshot]:
    """Every snapshot (tag) with its commit's date and message, in name order.

    Raises:
        NotFound: no such repository.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    try:
        tags = session.tag_commits(repo)
    except LakeFSNotFound as exc:
        raise _no_repository(repo) from exc
    return [_snapshot(session, repo, name, commit_id) for name, commit_id in tags.items()]


def _no_repository(repo: str) -> NotFound:
    return NotFound(
        f"repository {repo!r} does not exist",
        hint="`vxp repo list` shows the repositories; `vxp repo create NAME` makes one",
    )
