"""Branches, commits, merges, history and snapshots of a repository, over the lakeFS SDK.

Layer branches (``source``, ``integration``) change only by merge and are never deleted here;
snapshots are lakeFS tags, so they pin a commit ID for good.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lakefs_sdk
from lakefs_sdk.exceptions import ApiException

from vxp.catalog.state import parse_namespace_marker, parse_table_pointer
from vxp.connection import Settings
from vxp.errors import VxpError
from vxp.versioning import DEFAULT_BRANCH, LAYER_BRANCHES, api_error

# lakeFS's rule for branch IDs, checked here so the error can say what is allowed
_BRANCH_NAME = re.compile(r"^\w[-\w]*$")
# metadata keys written by the catalog and by lakeFS itself: a hand-made commit claiming them
# would make `vxp log` describe table changes that never happened
RESERVED_METADATA_PREFIXES = ("vxp.catalog.", ".lakefs.")
_PAGE = 1000


def pages(fetch: Callable[[str], Any]) -> Iterator[Any]:
    """Every result of a paginated lakeFS listing; ``fetch(after)`` returns one page."""
    after = ""
    while True:
        page = fetch(after)
        yield from page.results
        if not page.pagination.has_more:
            return
        after = page.pagination.next_offset


# --- branches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    name: str
    commit_id: str

    @property
    def layer(self) -> bool:
        return self.name in LAYER_BRANCHES

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "commit_id": self.commit_id, "layer": self.layer}


def list_branches(settings: Settings, repo: str) -> list[Branch]:
    """The repository's branches (the catalog's hidden temporary branches excluded)."""
    api = lakefs_sdk.BranchesApi(settings.lakefs())
    try:
        refs = list(pages(lambda after: api.list_branches(repo, after=after, amount=_PAGE)))
    except ApiException as exc:
        raise api_error(exc, f"could not list the branches of {repo!r}") from exc
    return [Branch(ref.id, ref.commit_id) for ref in refs]


def create_branch(settings: Settings, repo: str, name: str, source: str) -> Branch:
    """Branch ``name`` from ``source`` (branch, tag or commit): O(1), tables included."""
    if not _BRANCH_NAME.match(name):
        raise VxpError(
            f"invalid branch name {name!r}",
            hint="use letters, digits, '_' and '-', not starting with '-' (no '/' or '.')",
        )
    client = settings.lakefs()
    try:
        lakefs_sdk.BranchesApi(client).create_branch(
            repo, lakefs_sdk.BranchCreation(name=name, source=source)
        )
        head = lakefs_sdk.BranchesApi(client).get_branch(repo, name)
    except ApiException as exc:
        raise api_error(exc, f"could not create branch {name!r} from {source!r}") from exc
    return Branch(name, head.commit_id)


def delete_branch(settings: Settings, repo: str, name: str) -> None:
    """Delete a work branch; its commits stay reachable from tags and merges."""
    if name in LAYER_BRANCHES:
        # lakeFS branch protection refuses writes to these branches, not their deletion
        raise VxpError(
            f"{name!r} is a layer branch of {repo!r}; vxp never deletes layer branches",
            hint="layer branches change only by merge; delete the work branch you merged from",
        )
    try:
        lakefs_sdk.BranchesApi(settings.lakefs()).delete_branch(repo, name)
    except ApiException as exc:
        raise api_error(exc, f"could not delete branch {name!r}") from exc


# --- commits and history -------------------------------------------------------------------


@dataclass(frozen=True)
class TableChange:
    """One table a catalog commit changed, as named in its ``vxp.catalog.changes`` metadata."""

    table: str
    snapshot_id: int | None
    operation: str | None


@dataclass(frozen=True)
class CommitInfo:
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
                "caller": self.metadata.get("vxp.catalog.caller"),
                "namespace": self.metadata.get("vxp.catalog.namespace"),
                "tables": [
                    {"table": t.table, "snapshot_id": t.snapshot_id, "operation": t.operation}
                    for t in self.tables
                ],
            },
        }


def _commit_info(commit: Any) -> CommitInfo:
    metadata = {str(k): str(v) for k, v in (commit.metadata or {}).items()}
    return CommitInfo(
        id=commit.id,
        parents=list(commit.parents),
        committer=commit.committer,
        date=datetime.fromtimestamp(commit.creation_date, tz=UTC),
        message=commit.message,
        metadata=metadata,
        catalog_action=metadata.get("vxp.catalog.action"),
        tables=_table_changes(metadata),
    )


def _table_changes(metadata: dict[str, str]) -> list[TableChange]:
    raw = metadata.get("vxp.catalog.changes")
    if raw is None:
        # rename commits name both tables but carry no per-table entries
        tables = metadata.get("vxp.catalog.tables")
        return [TableChange(t, None, None) for t in tables.split(", ")] if tables else []
    try:
        entries = json.loads(raw)
        return [
            TableChange(".".join(entry["table"]), entry.get("snapshot-id"), entry.get("operation"))
            for entry in entries
        ]
    except (ValueError, TypeError, KeyError):
        # written by a different catalog version or by hand: show the commit, not a traceback
        return []


def log(settings: Settings, repo: str, ref: str, limit: int) -> list[CommitInfo]:
    """The newest ``limit`` commits reachable from ``ref``, newest first."""
    api = lakefs_sdk.RefsApi(settings.lakefs())
    commits: list[CommitInfo] = []
    try:
        for commit in pages(
            lambda after: api.log_commits(repo, ref, after=after, amount=min(limit, _PAGE))
        ):
            commits.append(_commit_info(commit))
            if len(commits) >= limit:
                break
    except ApiException as exc:
        raise api_error(exc, f"could not read the history of {ref!r}") from exc
    return commits


def parse_metadata(pairs: list[str]) -> dict[str, str]:
    """``key=value`` pairs from the command line; reserved keys are refused."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise VxpError(f"commit metadata {pair!r} is not key=value")
        if key.startswith(RESERVED_METADATA_PREFIXES):
            raise VxpError(
                f"commit metadata key {key!r} is reserved",
                hint=f"keys starting with {' or '.join(RESERVED_METADATA_PREFIXES)} are "
                "written by the catalog and lakeFS",
            )
        metadata[key] = value
    return metadata


def commit(
    settings: Settings, repo: str, branch: str, message: str, metadata: dict[str, str]
) -> CommitInfo:
    """Commit the branch's staged (uncommitted) changes."""
    client = settings.lakefs()
    try:
        staged = lakefs_sdk.BranchesApi(client).diff_branch(repo, branch, amount=1)
        if not staged.results:
            raise VxpError(
                f"nothing to commit on {repo}/{branch}: no staged changes",
                hint="upload or delete objects on the branch first; table writes through the "
                "catalog are committed as they happen",
            )
        created = lakefs_sdk.CommitsApi(client).commit(
            repo, branch, lakefs_sdk.CommitCreation(message=message, metadata=metadata)
        )
    except ApiException as exc:
        error = api_error(exc, f"could not commit to {repo}/{branch}")
        if exc.status == 403 and branch in LAYER_BRANCHES:
            error.hint = (
                "layer branches change only by merge: commit on a work branch "
                "(vxp branch create NAME) and merge it"
            )
        raise error from exc
    return _commit_info(created)


# --- merges --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    """A path both sides of a merge changed; ``table`` names it when it is a table pointer."""

    path: str
    table: str | None = None
    namespace: str | None = None

    def describe(self) -> str:
        if self.table is not None:
            return f"table {self.table}"
        if self.namespace is not None:
            return f"namespace {self.namespace}"
        return f"object {self.path}"


class MergeConflict(VxpError):
    # thousands of conflicting files must not bury the tables in the message
    SHOWN = 20

    def __init__(self, source: str, destination: str, conflicts: list[Conflict]) -> None:
        lines = "".join(f"\n  {c.describe()}" for c in conflicts[: self.SHOWN])
        if len(conflicts) > self.SHOWN:
            lines += f"\n  … and {len(conflicts) - self.SHOWN} more paths"
        super().__init__(
            f"merging {source!r} into {destination!r} conflicts: both sides changed{lines}\n"
            "nothing was changed",
            hint=f"redo one side's change on a branch cut from {destination!r} and merge that; "
            "vxp never lets one side's table commits silently overwrite the other's",
        )
        self.conflicts = conflicts


def _conflict(path: str) -> Conflict:
    table = parse_table_pointer(path)
    if table is not None:
        return Conflict(path, table=".".join((*table[0], table[1])))
    namespace = parse_namespace_marker(path)
    if namespace is not None:
        return Conflict(path, namespace=".".join(namespace))
    return Conflict(path)


def conflicts(settings: Settings, repo: str, source: str, destination: str) -> list[Conflict]:
    """Paths both ``source`` and ``destination`` changed since their merge base; tables first."""
    api = lakefs_sdk.RefsApi(settings.lakefs())
    # the three-dot diff is lakeFS's merge preview: it marks such paths as type "conflict"
    diffs = pages(
        lambda after: api.diff_refs(
            repo, destination, source, type="three_dot", after=after, amount=_PAGE
        )
    )
    found = [_conflict(d.path) for d in diffs if d.type == "conflict"]
    return sorted(found, key=lambda c: (c.table is None, c.namespace is None, c.path))


def merge(
    settings: Settings, repo: str, source: str, destination: str, message: str | None = None
) -> str:
    """Merge ``source`` (any ref) into branch ``destination``; the merge commit's ID.

    A conflict raises :class:`MergeConflict` naming the conflicting tables; lakeFS merges are
    atomic, so nothing changed. There is deliberately no "source wins"/"dest wins" strategy:
    it would silently drop one side's table commits.
    """
    api = lakefs_sdk.RefsApi(settings.lakefs())
    request = lakefs_sdk.Merge(message=message or f"merge {source} into {destination}")
    try:
        result = api.merge_into_branch(repo, source, destination, request)
    except ApiException as exc:
        error = api_error(exc, f"could not merge {source!r} into {destination!r}")
        if exc.status == 409:
            try:
                found = conflicts(settings, repo, source, destination)
            except ApiException:
                # the merge itself failed cleanly; report that rather than the preview's error
                raise error from exc
            if found:
                raise MergeConflict(source, destination, found) from exc
        if exc.status == 400 and "no changes" in error.message:
            error = VxpError(
                f"nothing to merge: {destination!r} already has every change of {source!r}"
            )
        raise error from exc
    return str(result.reference)


# --- snapshots -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    name: str
    commit_id: str
    date: datetime
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "commit_id": self.commit_id,
            "date": self.date.isoformat(),
            "message": self.message,
        }


def _snapshot(client: lakefs_sdk.ApiClient, repo: str, name: str, commit_id: str) -> Snapshot:
    commit = lakefs_sdk.CommitsApi(client).get_commit(repo, commit_id)
    return Snapshot(
        name, commit_id, datetime.fromtimestamp(commit.creation_date, tz=UTC), commit.message
    )


def create_snapshot(
    settings: Settings, repo: str, name: str, ref: str = DEFAULT_BRANCH
) -> Snapshot:
    """Tag the commit ``ref`` points at now; the tag pins it (and every table in it) for good."""
    client = settings.lakefs()
    try:
        tag = lakefs_sdk.TagsApi(client).create_tag(repo, lakefs_sdk.TagCreation(id=name, ref=ref))
        return _snapshot(client, repo, name, tag.commit_id)
    except ApiException as exc:
        raise api_error(exc, f"could not create snapshot {name!r} of {ref!r}") from exc


def list_snapshots(settings: Settings, repo: str) -> list[Snapshot]:
    """Every snapshot (tag) with its commit's date and message, in name order."""
    client = settings.lakefs()
    api = lakefs_sdk.TagsApi(client)
    try:
        tags = list(pages(lambda after: api.list_tags(repo, after=after, amount=_PAGE)))
        return [_snapshot(client, repo, tag.id, tag.commit_id) for tag in tags]
    except ApiException as exc:
        raise api_error(exc, f"could not list the snapshots of {repo!r}") from exc
