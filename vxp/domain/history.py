"""``vxp log`` with what each table commit really changed, read from the tables' metadata.

The catalog's commit metadata names the table, its new snapshot and that snapshot's operation
only; a pyiceberg ``overwrite`` is two snapshots (``delete``, ``append``) and a schema change has
no snapshot at all. Reading the metadata file the commit wrote and the one before it (the last
entry of its metadata log) says every snapshot the commit added, with Iceberg's operation names,
and what else changed: schema, partition spec, sort order, properties.
"""

from __future__ import annotations

import dataclasses
import json

from vxp.core.errors import VxpError
from vxp.core.settings import Settings
from vxp.domain.merging import MERGE_TABLES
from vxp.domain.refs import CommitInfo, TableChange
from vxp.domain.refs import log as read_log
from vxp.domain.table_changes import metadata_change
from vxp.domain.tables import RefReader
from vxp.lakefs import Session


def log(
    session: Session,
    settings: Settings,
    repo: str,
    ref: str,
    limit: int,
    *,
    first_parent: bool = False,
) -> list[CommitInfo]:
    """:func:`vxp.domain.refs.log`, each table change with what it did (``TableChange.what``).

    ``first_parent`` follows only merge commits' first parents: a merge shows as its one merge
    commit, without the merged branch's commits or vxp's temporary-branch commits.

    A metadata file that cannot be read (deleted by ``vxp gc``, unreachable storage) leaves
    ``what`` None for that table; the log is still shown.

    Raises:
        NotFound: no such repository or ref.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    reader = RefReader(session, settings, repo)
    commits = read_log(session, repo, ref, limit, first_parent=first_parent)
    return [
        dataclasses.replace(c, tables=[_described(reader, t) for t in c.tables]) if c.tables else c
        for c in commits
    ]


def _described(reader: RefReader, change: TableChange) -> TableChange:
    if change.metadata_location is None:
        return change
    try:
        after = reader.metadata(change.metadata_location)
        previous = after.metadata_log[-1].metadata_file if after.metadata_log else None
        before = reader.metadata(previous) if previous is not None else None
    except VxpError:
        return change
    return dataclasses.replace(change, what=metadata_change(before, after))


def merged_tables(commit: CommitInfo) -> list[dict[str, object]]:
    """How a vxp merge commit merged each table (its ``vxp.merge.tables`` metadata); empty for
    other commits or unreadable metadata."""
    raw = commit.metadata.get(MERGE_TABLES)
    if raw is None:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
