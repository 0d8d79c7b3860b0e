"""Table-aware merges: two versions of one Iceberg table, both changed since a common version.

lakeFS sees a table as one pointer object (``_vxp/catalog/tables/…``), so any two changes of a
table conflict there (lakeFS issue #3381). This module looks at the Iceberg metadata the two
pointers name and decides per table (see :class:`Planner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from vxp.core.layout import Namespace, Pointer, table_pointer
from vxp.core.settings import Settings
from vxp.domain.tables import RefReader
from vxp.lakefs import Session

Strategy = Literal["ours", "theirs"]


@dataclass(frozen=True)
class TableMerge:
    """How one table both sides changed was merged.

    Attributes:
        table: the dotted name ``namespace.table``.
        how: ``merged`` (both sides' changes combined at the Iceberg level), ``ours`` (the
            destination's version kept) or ``theirs`` (the source's version taken).
        detail: what was combined or chosen, in words.
        snapshot_id: the table's current snapshot after the merge (None without a snapshot).
        metadata_location: its metadata file after the merge.
    """

    table: str
    how: Literal["merged", "ours", "theirs"]
    detail: str
    snapshot_id: int | None = None
    metadata_location: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"table", "how", "detail", "snapshot_id", "metadata_location"}``."""
        return {
            "table": self.table,
            "how": self.how,
            "detail": self.detail,
            "snapshot_id": self.snapshot_id,
            "metadata_location": self.metadata_location,
        }


@dataclass(frozen=True)
class Unmergeable:
    """A table both sides changed in ways that do not commute.

    Attributes:
        explanation: lines saying which side did what and why it does not commute.
    """

    explanation: tuple[str, ...]


@dataclass
class Planned:
    """A table's merged version, ready to land.

    Attributes:
        pointer_path: the pointer object's path.
        pointer: the pointer's new content.
        result: how the table was merged.
        writes: writes files (new metadata, manifests) under the table's location; run
            once every table of the merge is planned, so a refused merge writes nothing.
    """

    pointer_path: str
    pointer: bytes
    result: TableMerge
    writes: list[Callable[[], None]] = field(default_factory=list)

    def write(self) -> None:
        """Write the files the merged version needs (none when a side's version is taken)."""
        for step in self.writes:
            step()


class Planner:
    """Plans the merge of each table both sides changed.

    Args:
        session: the lakeFS session.
        settings: where metadata and data files are (S3 settings on the full stack).
        repo: the repository.
        source_commit, destination_commit: the two sides.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        repo: str,
        source_commit: str,
        destination_commit: str,
    ) -> None:
        self.reader = RefReader(session, settings, repo)
        self.session = session
        self.repo = repo
        self.source_commit = source_commit
        self.destination_commit = destination_commit

    def _pointer(self, commit: str, path: str) -> bytes | None:
        return self.session.get_object(self.repo, commit, path)

    def plan(
        self, namespace: Namespace, name: str, strategy: Strategy | None
    ) -> Planned | Unmergeable:
        """The merged version of table ``namespace.name``, or why there is none.

        Raises:
            VxpError: a metadata file cannot be read.
            LakeFSError: lakeFS refused a read.
        """
        path = table_pointer(namespace, name)
        dotted = ".".join((*namespace, name))
        theirs = self._pointer(self.source_commit, path)
        ours = self._pointer(self.destination_commit, path)
        if strategy is not None:
            return self._choose(dotted, path, strategy, ours, theirs)
        return Unmergeable(("both sides changed the table",))

    def _choose(
        self,
        dotted: str,
        path: str,
        strategy: Strategy,
        ours: bytes | None,
        theirs: bytes | None,
    ) -> Planned | Unmergeable:
        chosen = ours if strategy == "ours" else theirs
        side = "destination" if strategy == "ours" else "source"
        if chosen is None:
            # a dropped table cannot be "kept" by writing a pointer; deletion is not planned here
            return Unmergeable((f"the {side} dropped the table; drop or recreate it by hand",))
        pointer = Pointer.from_bytes(chosen)
        state = self.reader.metadata(pointer.metadata_location).current_snapshot()
        return Planned(
            path,
            chosen,
            TableMerge(
                dotted,
                strategy,
                f"kept the {side}'s version",
                state.snapshot_id if state is not None else None,
                pointer.metadata_location,
            ),
        )
