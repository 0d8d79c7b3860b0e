"""Table-aware merges: two versions of one Iceberg table, both changed since a common version.

lakeFS sees a table as one pointer object (``_vxp/catalog/tables/…``), so any two changes of a
table conflict there (lakeFS issue #3381). This module looks at the Iceberg metadata the two
pointers name and decides per table (see :class:`Planner`).
"""

from __future__ import annotations

import dataclasses
import io as io_module
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io import FileIO
from pyiceberg.manifest import (
    DATA_FILE_TYPE,
    DEFAULT_READ_VERSION,
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
    write_manifest_list,
)
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRef, SnapshotRefType
from pyiceberg.table.snapshots import (
    MetadataLogEntry,
    Operation,
    Snapshot,
    SnapshotLogEntry,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.types import NestedField

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
        pointer: the pointer's new content; None drops the table (the chosen side dropped it).
        result: how the table was merged.
        writes: writes files (new metadata, manifests) under the table's location; run
            once every table of the merge is planned, so a refused merge writes nothing.
    """

    pointer_path: str
    pointer: bytes | None
    result: TableMerge
    writes: list[Callable[[], None]] = field(default_factory=list)
    # the pointer's content on the destination and on the source (None: no table there)
    destination: bytes | None = None
    source: bytes | None = None

    def write(self) -> None:
        """Write the files the merged version needs (none when a side's version is taken)."""
        for step in self.writes:
            step()


# --- reading one version of a table ------------------------------------------------------------


@dataclass(frozen=True)
class _Live:
    """The live files of a table version: path → manifest entry (sequence numbers inherited),
    and path → the manifest that holds it; files of manifests all three versions share are left
    out (see :func:`_live`)."""

    entries: dict[str, ManifestEntry]
    manifest_of: dict[str, str]
    manifests: list[ManifestFile]


def _manifests(io: FileIO, metadata: TableMetadata) -> list[ManifestFile]:
    snapshot = metadata.current_snapshot()
    return snapshot.manifests(io) if snapshot is not None else []


def _live(io: FileIO, manifests: list[ManifestFile], shared: set[str]) -> _Live:
    """The live files of the manifests not in ``shared``.

    Manifest files are immutable, so a manifest all three versions list holds the same live
    files in each: they are neither added nor removed by a side, and reading them (Avro, the
    costly part of a merge) is skipped.
    """
    entries: dict[str, ManifestEntry] = {}
    manifest_of: dict[str, str] = {}
    for manifest in manifests:
        if manifest.manifest_path in shared:
            continue
        for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
            entries[entry.data_file.file_path] = entry
            manifest_of[entry.data_file.file_path] = manifest.manifest_path
    return _Live(entries, manifest_of, manifests)


def _ancestors(metadata: TableMetadata, base: TableMetadata | None) -> list[Snapshot]:
    """The current snapshot and its ancestors that ``base`` does not have, newest first.

    After an earlier merge the destination's history need not run through the common version's
    current snapshot (the common version can be the source's file of that merge), so the walk
    stops at the first snapshot the common version knows.
    """
    known = {s.snapshot_id for s in base.snapshots} if base is not None else set()
    found: list[Snapshot] = []
    snapshot = metadata.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id not in known:
        found.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = metadata.snapshot_by_id(parent) if parent is not None else None
    return found


def _is_ancestor(metadata: TableMetadata, snapshot_id: int | None) -> bool:
    if snapshot_id is None:
        return True
    return any(s.snapshot_id == snapshot_id for s in _ancestors(metadata, None))


_ATTRIBUTES = ("name", "field_type", "required", "doc", "initial_default", "write_default")


def _describe_field(field: NestedField) -> str:
    return f"{field.name} {field.field_type}"


def _schema_changes(before: Schema, after: Schema) -> list[str]:
    """Top-level column changes, in words: ``added x long``, ``dropped y``, ``renamed a to b``,
    ``retyped c int to long``, ``changed doc of d``, ``made e optional``."""
    old = {f.field_id: f for f in before.fields}
    new = {f.field_id: f for f in after.fields}
    changes = [f"added {_describe_field(new[i])}" for i in new if i not in old]
    changes += [f"dropped {old[i].name}" for i in old if i not in new]
    for i in (i for i in new if i in old):
        a, b = old[i], new[i]
        if a.name != b.name:
            changes.append(f"renamed {a.name} to {b.name}")
        if a.field_type != b.field_type:
            changes.append(f"retyped {b.name} {a.field_type} to {b.field_type}")
        if a.required != b.required:
            changes.append(f"made {b.name} {'required' if b.required else 'optional'}")
        if a.doc != b.doc:
            changes.append(f"changed doc of {b.name}")
    return changes


def _side_story(base: TableMetadata, side: TableMetadata) -> str:
    """What one side did since the common version, in one line."""
    parts: list[str] = []
    base_snapshot = base.current_snapshot_id
    snapshots = _ancestors(side, base)
    if snapshots:
        ops = ", ".join(
            f"{s.summary.operation.value if s.summary else '?'} {s.snapshot_id}"
            for s in reversed(snapshots[:5])
        )
        more = f" and {len(snapshots) - 5} more" if len(snapshots) > 5 else ""
        parts.append(f"{len(snapshots)} snapshot(s): {ops}{more}")
    elif side.current_snapshot_id != base_snapshot:
        parts.append(f"moved the table back to snapshot {side.current_snapshot_id}")
    schema = _schema_changes(base.schema(), side.schema())
    if schema:
        parts.append("columns: " + "; ".join(schema))
    if _specs(side) != _specs(base):
        parts.append("changed the partition spec")
    if _orders(side) != _orders(base):
        parts.append("changed the sort order")
    changed = sorted(
        k
        for k in set(side.properties) | set(base.properties)
        if side.properties.get(k) != base.properties.get(k)
    )
    if changed:
        parts.append("properties: " + ", ".join(changed))
    return "; ".join(parts) or "no change of schema or data (a new metadata file only)"


def _snapshot_change(snapshot: Snapshot) -> str:
    """``append 812 (+3 rows)``, ``delete 913 (-10 rows)``: the snapshot's operation and the
    rows its summary says it added and removed (Iceberg spec, "Snapshot summary":
    ``added-records``, ``deleted-records``; row deltas of delete files are
    ``added-position-deletes``/``added-equality-deletes``)."""
    summary = snapshot.summary
    operation = summary.operation.value if summary else "?"
    counts: list[str] = []
    if summary is not None:
        added = int(summary.get("added-records") or 0)
        removed = int(summary.get("deleted-records") or 0)
        removed += int(summary.get("added-position-deletes") or 0)
        removed += int(summary.get("added-equality-deletes") or 0)
        if added:
            counts.append(f"+{added}")
        if removed:
            counts.append(f"-{removed}")
    rows = f" ({' '.join(counts)} rows)" if counts else ""
    return f"{operation} {snapshot.snapshot_id}{rows}"


def _dropped_story(base: TableMetadata | None, side: TableMetadata) -> str:
    """What of one side a ``ours``/``theirs`` choice does not take: its snapshots since the
    common version ``base`` (each with its operation and row counts, the newest
    :data:`_SHOWN_SNAPSHOTS`) and its column changes, in one line."""
    snapshots = _ancestors(side, base)
    parts: list[str] = []
    if snapshots:
        shown = ", ".join(_snapshot_change(s) for s in reversed(snapshots[:_SHOWN_SNAPSHOTS]))
        more = (
            f" and {len(snapshots) - _SHOWN_SNAPSHOTS} older"
            if len(snapshots) > _SHOWN_SNAPSHOTS
            else ""
        )
        parts.append(f"{len(snapshots)} snapshot(s) {shown}{more}")
    if base is not None:
        schema = _schema_changes(base.schema(), side.schema())
        if schema:
            parts.append("columns: " + "; ".join(schema))
    return "; ".join(parts) or "no change of data or columns"


#: how many of a side's snapshots a ``ours``/``theirs`` detail names
_SHOWN_SNAPSHOTS = 5


def _specs(metadata: TableMetadata) -> tuple[Any, ...]:
    return (
        tuple(spec.model_dump_json() for spec in metadata.partition_specs),
        metadata.default_spec_id,
    )


def _orders(metadata: TableMetadata) -> tuple[Any, ...]:
    return (
        tuple(order.model_dump_json() for order in metadata.sort_orders),
        metadata.default_sort_order_id,
    )


# --- three-way merges of the parts of table metadata -------------------------------------------


def _three_way(base: Any, ours: Any, theirs: Any) -> tuple[bool, Any]:
    """``(ok, merged)`` of one value: a side's change wins over no change; equal changes agree."""
    if ours == theirs:
        return True, ours
    if ours == base:
        return True, theirs
    if theirs == base:
        return True, ours
    return False, None


def _wrote_with(metadata: TableMetadata, since: TableMetadata, field_id: int) -> bool:
    """Whether a snapshot ``since`` lacks added data files written with column ``field_id``
    (by the snapshot's schema; a snapshot without a schema ID counts as having it)."""
    for snapshot in _ancestors(metadata, since):
        summary: Mapping[str, str] = snapshot.summary or {}
        added = int(summary.get("added-data-files", "1") or 0) > 0
        schema = (
            metadata.schema_by_id(snapshot.schema_id) if snapshot.schema_id is not None else None
        )
        if added and (schema is None or field_id in {f.field_id for f in schema.fields}):
            return True
    return False


@dataclass
class _SchemaMerge:
    schema: Schema | None
    last_column_id: int
    reasons: list[str]
    detail: list[str]
    # the source's columns given new field IDs: old ID → new ID
    renumber: dict[int, int] = field(default_factory=dict)


def _merge_schema(base: TableMetadata, ours: TableMetadata, theirs: TableMetadata) -> _SchemaMerge:
    """The merged current schema, column by column and attribute by attribute (three-way by
    field ID); columns both sides added under one field ID are renumbered on the side that wrote
    no data with it (Iceberg reads columns by field ID), else they conflict."""
    b, d, s = base.schema(), ours.schema(), theirs.schema()
    last = max(ours.last_column_id, theirs.last_column_id)
    if d.fields == s.fields and d.identifier_field_ids == s.identifier_field_ids:
        return _SchemaMerge(None, last, [], [])
    bf = {f.field_id: f for f in b.fields}
    df = {f.field_id: f for f in d.fields}
    sf = {f.field_id: f for f in s.fields}
    reasons: list[str] = []
    merged: dict[int, NestedField] = {}
    renumbered: dict[int, NestedField] = {}
    renumber: dict[int, int] = {}
    for fid in (
        list(df) + [i for i in sf if i not in df] + [i for i in bf if i not in df and i not in sf]
    ):
        old, mine, other = bf.get(fid), df.get(fid), sf.get(fid)
        if old is None and mine is not None and other is not None and mine != other:
            # both sides added a column under the same field ID
            if not _wrote_with(ours, base, fid):
                last += 1
                merged[fid] = other
                renumbered[last] = mine.model_copy(update={"field_id": last})
            elif other.field_type.is_primitive:
                # "applied in order": the source's column comes after the destination's, and
                # the source's files are rewritten with its new field ID
                last += 1
                merged[fid] = mine
                renumbered[last] = other.model_copy(update={"field_id": last})
                renumber[fid] = last
            else:
                reasons.append(
                    f"both sides added a column with field ID {fid} (destination: "
                    f"{_describe_field(mine)}, source: {_describe_field(other)}), the source's "
                    "is nested, and both wrote data with it; Iceberg reads columns by field ID"
                )
            continue
        if mine is None or other is None or old is None:
            ok, value = _three_way(old, mine, other)
            if not ok:
                kept = mine or other
                assert kept is not None
                reasons.append(f"column {kept.name}: one side dropped it, the other changed it")
            elif value is not None:
                merged[fid] = value
            continue
        attributes: dict[str, Any] = {}
        for attribute in _ATTRIBUTES:
            ok, value = _three_way(
                getattr(old, attribute), getattr(mine, attribute), getattr(other, attribute)
            )
            if not ok:
                reasons.append(
                    f"column {old.name}: both sides changed its {attribute.replace('_', ' ')} "
                    f"({getattr(mine, attribute)} and {getattr(other, attribute)})"
                )
            attributes[attribute] = value
        merged[fid] = mine.model_copy(update=attributes)
    ok, identifiers = _three_way(
        b.identifier_field_ids, d.identifier_field_ids, s.identifier_field_ids
    )
    if not ok:
        reasons.append("both sides changed the identifier (key) columns differently")
        identifiers = d.identifier_field_ids
    fields = [*merged.values(), *renumbered.values()]
    names = Counter(f.name for f in fields)
    reasons += [
        f"both sides have a column named {n} (different field IDs)"
        for n, c in names.items()
        if c > 1
    ]
    if reasons:
        return _SchemaMerge(None, last, reasons, [])
    if [f for f in fields] == list(d.fields) and identifiers == d.identifier_field_ids:
        return _SchemaMerge(None, last, [], [])
    same = next(
        (
            existing
            for existing in ours.schemas
            if list(existing.fields) == fields and existing.identifier_field_ids == identifiers
        ),
        None,
    )
    schema = same or Schema(
        *fields,
        schema_id=max(x.schema_id for x in ours.schemas) + 1,
        identifier_field_ids=identifiers,
    )
    detail = _schema_changes(d, schema)
    if renumber:
        detail.append(
            "the source's "
            + ", ".join(
                f"{schema.find_field(new).name} (field ID {old} → {new})"
                for old, new in renumber.items()
            )
            + " renumbered, its files rewritten"
        )
    return _SchemaMerge(
        schema, last, [], [f"columns: {'; '.join(detail)}"] if detail else [], renumber
    )


# --- the planner -------------------------------------------------------------------------------


class _DeleteManifestWriter(ManifestWriterV2):
    """pyiceberg's v2 manifest writer for delete files (its own writes data manifests only;
    Iceberg spec, "Manifests": ``content`` 1 holds delete files)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def _positions(io: FileIO, entry: ManifestEntry) -> set[tuple[str, int]]:
    """The (data file, row position) pairs a position delete file deletes (Iceberg spec,
    "Position Delete Files")."""
    with io.new_input(entry.data_file.file_path).open() as stream:
        table = pq.read_table(stream, columns=["file_path", "pos"])
    return set(
        zip(table.column("file_path").to_pylist(), table.column("pos").to_pylist(), strict=True)
    )


def _merged_log(
    ours: TableMetadata, ours_location: str, theirs: TableMetadata, theirs_location: str
) -> list[MetadataLogEntry]:
    """The merged version's metadata log: the destination's, then the destination's file it
    replaces, and the source's current file, in timestamp order (Java's readers require sorted
    entries), trimmed to ``write.metadata.previous-versions-max``.

    Recording the source's file makes it the common version of the next merge of the same
    source: only what the source did after it is merged then, nothing twice.
    """
    entries = [
        *ours.metadata_log,
        MetadataLogEntry.model_validate(
            {"metadata-file": ours_location, "timestamp-ms": ours.last_updated_ms}
        ),
    ]
    if theirs_location not in {e.metadata_file for e in entries}:
        entries.append(
            MetadataLogEntry.model_validate(
                {"metadata-file": theirs_location, "timestamp-ms": theirs.last_updated_ms}
            )
        )
    entries.sort(key=lambda e: e.timestamp_ms)
    keep = int(ours.properties.get("write.metadata.previous-versions-max", _PREVIOUS_VERSIONS_MAX))
    return entries[-keep:]


def _write_metadata(io: FileIO, metadata: TableMetadata, location: str) -> Callable[[], None]:
    def write() -> None:
        with io.new_output(location).create(overwrite=False) as stream:
            stream.write(metadata.model_dump_json().encode())

    return write


def _metadata_dir(metadata: TableMetadata) -> str:
    directory = (
        metadata.properties.get("write.metadata.path")
        or f"{metadata.location.rstrip('/')}/metadata"
    )
    return directory.rstrip("/")


def _next_metadata_location(metadata: TableMetadata, previous: str) -> str:
    """``<metadata dir>/<version + 1:05d>-<uuid>.metadata.json``: the name Iceberg's Java writers
    and vxp's catalog use."""
    match = re.search(r"(\d+)-[^/]*\.metadata\.json(\.gz)?$", previous)
    version = int(match.group(1)) + 1 if match else 0
    return f"{_metadata_dir(metadata)}/{version:05d}-{uuid.uuid4()}.metadata.json"


class Planner:
    """Plans the merge of each table both sides changed.

    The table's common version is found in the tables' own metadata logs, not from lakeFS's
    merge base: the newest metadata file that both the destination's and the source's metadata
    log (or current pointer) hold. lakeFS 1.86 can pick a much older merge base (it picked the
    repository's first commit between branches of ``source`` and ``integration`` after merged
    runs), which would make every table look created on both sides; lakeFS's answer is used only
    to know *which* table pointers both sides changed.

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
        self.io = self.reader.io
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

        ``strategy`` decides only when the two sides' changes do not commute.

        Raises:
            VxpError: a metadata file cannot be read.
            LakeFSError: lakeFS refused a read.
        """
        path = table_pointer(namespace, name)
        dotted = ".".join((*namespace, name))
        theirs = self._pointer(self.source_commit, path)
        ours = self._pointer(self.destination_commit, path)
        outcome = self._combine(dotted, path, ours, theirs)
        if isinstance(outcome, Unmergeable) and strategy is not None:
            outcome = self._choose(dotted, path, strategy, ours, theirs)
        if isinstance(outcome, Planned):
            outcome.destination, outcome.source = ours, theirs
        return outcome

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
        lost = self._lost(strategy, ours, theirs)
        if chosen is None:
            # the chosen side dropped the table: so does the merge (its files stay for time travel)
            return Planned(
                path, None, TableMerge(dotted, strategy, f"dropped, as the {side} did; {lost}")
            )
        pointer = Pointer.from_bytes(chosen)
        metadata = self.reader.metadata(pointer.metadata_location)
        kept = TableMerge(
            dotted,
            strategy,
            f"kept the {side}'s version; {lost}",
            metadata.current_snapshot_id,
            pointer.metadata_location,
        )
        if strategy == "theirs" or theirs is None:
            return Planned(path, chosen, kept)
        # keeping ours: a new metadata file, the same table, whose log also names the source's
        # file, so that a later merge of the same source does not bring back what was refused
        theirs_location = Pointer.from_bytes(theirs).metadata_location
        other = self.reader.metadata(theirs_location)
        if other.table_uuid != metadata.table_uuid:
            return Planned(path, chosen, kept)
        recorded = metadata.model_copy(
            update={
                "metadata_log": _merged_log(
                    metadata, pointer.metadata_location, other, theirs_location
                ),
                "last_updated_ms": max(int(time.time() * 1000), metadata.last_updated_ms + 1),
            }
        )
        location = _next_metadata_location(recorded, pointer.metadata_location)
        return Planned(
            path,
            Pointer(location, pointer.metadata_location).to_bytes(),
            dataclasses.replace(kept, metadata_location=location),
            [_write_metadata(self.io, recorded, location)],
        )

    def _lost(self, strategy: Strategy, ours: bytes | None, theirs: bytes | None) -> str:
        """What of the side not chosen the merge leaves out, since the common version:
        ``ours`` does not take the source's changes, ``theirs`` drops the destination's
        (a whole-table choice: docs/how-to/merge-tables.md)."""
        other, name = (theirs, "source") if strategy == "ours" else (ours, "destination")
        verb = "did not take" if strategy == "ours" else "dropped"
        if other is None:
            return f"the {name} had dropped the table"
        other_location = Pointer.from_bytes(other).metadata_location
        other_metadata = self.reader.metadata(other_location)
        chosen = ours if strategy == "ours" else theirs
        if chosen is None:
            # no version on the chosen side to find the common version with
            return (
                f"{verb} the {name}'s version of the table "
                f"(snapshot {other_metadata.current_snapshot_id})"
            )
        base: TableMetadata | None = None
        chosen_location = Pointer.from_bytes(chosen).metadata_location
        chosen_metadata = self.reader.metadata(chosen_location)
        if chosen_metadata.table_uuid != other_metadata.table_uuid:
            return f"{verb} the {name}'s table of the same name (a different table)"
        base_location = self._base(chosen_location, chosen_metadata, other_location, other_metadata)
        if base_location is not None:
            base = self.reader.metadata(base_location)
        since = "since the common version" if base is not None else "(no common version found)"
        return f"{verb} the {name}'s changes {since}: {_dropped_story(base, other_metadata)}"

    def _combine(
        self, dotted: str, path: str, ours: bytes | None, theirs: bytes | None
    ) -> Planned | Unmergeable:
        if ours is None or theirs is None:
            side = "destination" if ours is None else "source"
            return Unmergeable((f"the {side} dropped the table, the other side changed it",))
        ours_location = Pointer.from_bytes(ours).metadata_location
        theirs_location = Pointer.from_bytes(theirs).metadata_location
        mine = self.reader.metadata(ours_location)
        other = self.reader.metadata(theirs_location)
        if mine.table_uuid != other.table_uuid:
            return Unmergeable(
                (
                    "the two sides hold different tables under this name (different table "
                    "UUIDs): one side created or replaced it",
                )
            )
        base_location = self._base(ours_location, mine, theirs_location, other)
        if base_location is None:
            return Unmergeable(
                ("no common version in the two metadata logs (too many commits on a side?)",)
            )
        if base_location == theirs_location:
            return self._taken(
                dotted, path, ours, mine, ours_location, "the source did not change it"
            )
        if base_location == ours_location:
            return self._taken(
                dotted, path, theirs, other, theirs_location, "only the source changed it"
            )
        base = self.reader.metadata(base_location)
        return _Combination(
            self.io, dotted, path, base, mine, ours_location, other, theirs_location
        ).plan()

    def _taken(
        self,
        dotted: str,
        path: str,
        pointer: bytes,
        metadata: TableMetadata,
        location: str,
        detail: str,
    ) -> Planned:
        return Planned(
            path,
            pointer,
            TableMerge(dotted, "merged", detail, metadata.current_snapshot_id, location),
        )

    def _base(
        self, ours_location: str, ours: TableMetadata, theirs_location: str, theirs: TableMetadata
    ) -> str | None:
        """The newest metadata file both sides' histories hold (see the class docstring)."""
        known = {theirs_location, *(e.metadata_file for e in theirs.metadata_log)}
        for location in [ours_location, *(e.metadata_file for e in reversed(ours.metadata_log))]:
            if location in known:
                return location
        return None


class _Combination:
    """Combines the source's changes of one table onto the destination's version."""

    def __init__(
        self,
        io: FileIO,
        dotted: str,
        path: str,
        base: TableMetadata,
        ours: TableMetadata,
        ours_location: str,
        theirs: TableMetadata,
        theirs_location: str,
    ) -> None:
        self.io = io
        self.theirs_location = theirs_location
        self.dotted = dotted
        self.path = path
        self.base = base
        self.ours = ours
        self.ours_location = ours_location
        self.theirs = theirs

    def _refuse(self, reasons: list[str]) -> Unmergeable:
        return Unmergeable(
            (
                f"destination: {_side_story(self.base, self.ours)}",
                f"source: {_side_story(self.base, self.theirs)}",
                *(f"conflict: {reason}" for reason in reasons),
            )
        )

    def plan(self) -> Planned | Unmergeable:
        base, ours, theirs = self.base, self.ours, self.theirs
        reasons: list[str] = []
        if not (ours.format_version == theirs.format_version == 2):
            reasons.append(
                f"format version {ours.format_version}/{theirs.format_version}: vxp merges "
                "tables of format version 2"
            )
            return self._refuse(reasons)
        schema = _merge_schema(base, ours, theirs)
        reasons += schema.reasons
        ok, specs = _three_way(_specs(base), _specs(ours), _specs(theirs))
        if not ok:
            reasons.append("both sides changed the partition spec")
        ok, orders = _three_way(_orders(base), _orders(ours), _orders(theirs))
        if not ok:
            reasons.append("both sides changed the sort order")
        properties: dict[str, str] = {}
        for key in sorted(set(base.properties) | set(ours.properties) | set(theirs.properties)):
            ok, value = _three_way(
                base.properties.get(key), ours.properties.get(key), theirs.properties.get(key)
            )
            if not ok:
                reasons.append(f"both sides changed table property {key}")
            elif value is not None:
                properties[key] = value
        other_refs = {
            name: ref.snapshot_id for name, ref in theirs.refs.items() if name != MAIN_BRANCH
        }
        base_refs = {
            name: ref.snapshot_id for name, ref in base.refs.items() if name != MAIN_BRANCH
        }
        if other_refs != base_refs:
            reasons.append("the source changed the table's own Iceberg branches or tags")
        if not _is_ancestor(theirs, base.current_snapshot_id):
            reasons.append("the source rolled the table back to an older snapshot")
        if reasons:
            return self._refuse(reasons)
        data = (
            self._data(schema.renumber)
            if theirs.current_snapshot_id != base.current_snapshot_id
            else None
        )
        if isinstance(data, list):
            return self._refuse(data)
        return self._assemble(
            schema,
            specs_from=theirs if specs == _specs(theirs) and specs != _specs(ours) else ours,
            orders_from=theirs if orders == _orders(theirs) and orders != _orders(ours) else ours,
            properties=properties,
            data=data,
        )

    # --- data files ----------------------------------------------------------------------

    def _data(self, renumber: dict[int, int]) -> _DataMerge | list[str]:
        io = self.io
        lists = [_manifests(io, m) for m in (self.base, self.ours, self.theirs)]
        paths = [{m.manifest_path for m in listed} for listed in lists]
        shared = paths[0] & paths[1] & paths[2]
        live_b, live_d, live_s = (_live(io, listed, shared) for listed in lists)
        b, d, s = set(live_b.entries), set(live_d.entries), set(live_s.entries)
        d_added, d_removed = d - b, b - d
        s_added, s_removed = s - b, b - s
        reasons: list[str] = []
        both_removed = sorted(d_removed & s_removed)
        if both_removed:
            reasons.append(
                f"both sides removed or rewrote the same {len(both_removed)} file(s), e.g. "
                f"{both_removed[0]}"
            )

        def deletes(live: _Live, added: set[str], content: DataFileContent) -> list[ManifestEntry]:
            return [
                live.entries[p]
                for p in sorted(added)
                if live.entries[p].data_file.content == content
            ]

        d_pos = set().union(
            *(_positions(io, e) for e in deletes(live_d, d_added, DataFileContent.POSITION_DELETES))
        )
        s_pos = set().union(
            *(_positions(io, e) for e in deletes(live_s, s_added, DataFileContent.POSITION_DELETES))
        )
        for mine, other_removed, side, other in (
            (d_pos, s_removed, "destination", "source"),
            (s_pos, d_removed, "source", "destination"),
        ):
            hit = sorted({f for f, _ in mine} & other_removed)
            if hit:
                reasons.append(
                    f"the {side} deleted rows of {len(hit)} file(s) the {other} removed or "
                    f"rewrote, e.g. {hit[0]}"
                )
        same_rows = d_pos & s_pos
        if same_rows:
            reasons.append(f"both sides deleted or updated the same {len(same_rows)} row(s)")
        s_equality = deletes(live_s, s_added, DataFileContent.EQUALITY_DELETES)
        d_data = deletes(live_d, d_added, DataFileContent.DATA)
        if s_equality and d_data:
            reasons.append(
                "the source wrote equality deletes, which would also delete matching rows the "
                "destination added"
            )
        if renumber:
            reasons += [
                f"the source's equality delete file {e.data_file.file_path} names a column both "
                "sides added"
                for e in s_equality
                if set(e.data_file.equality_ids or ()) & set(renumber)
            ]
            reasons += [
                f"the source's file {live_s.entries[p].data_file.file_path} is not Parquet; "
                "vxp rewrites only Parquet files with renumbered columns"
                for p in sorted(s_added)
                if live_s.entries[p].data_file.file_format != FileFormat.PARQUET
            ]
        if reasons:
            return reasons
        added = [live_s.entries[p] for p in sorted(s_added)]
        pending: list[tuple[str, bytes]] = []
        if renumber:
            added, pending = _renumbered(io, self.ours, added, renumber)
        return _DataMerge(added=added, removed=set(s_removed), live=live_d, pending=pending)

    # --- the merged metadata --------------------------------------------------------------

    def _assemble(
        self,
        schema: _SchemaMerge,
        *,
        specs_from: TableMetadata,
        orders_from: TableMetadata,
        properties: dict[str, str],
        data: _DataMerge | None,
    ) -> Planned:
        ours, base, theirs = self.ours, self.base, self.theirs
        now = max(int(time.time() * 1000), ours.last_updated_ms + 1)
        update: dict[str, Any] = {
            "last_column_id": schema.last_column_id,
            "partition_specs": specs_from.partition_specs,
            "default_spec_id": specs_from.default_spec_id,
            "last_partition_id": max(ours.last_partition_id or 0, theirs.last_partition_id or 0)
            or ours.last_partition_id,
            "sort_orders": orders_from.sort_orders,
            "default_sort_order_id": orders_from.default_sort_order_id,
            "properties": properties,
            "last_updated_ms": now,
        }
        detail: list[str] = list(schema.detail)
        current = ours.schema()
        if schema.schema is not None:
            if schema.schema.schema_id not in {x.schema_id for x in ours.schemas}:
                update["schemas"] = [*ours.schemas, schema.schema]
            update["current_schema_id"] = schema.schema.schema_id
            current = schema.schema
        writes: list[Callable[[], None]] = []
        snapshot_id: int | None = ours.current_snapshot_id
        if data is not None:
            snapshot, write = self._snapshot(data, current, now)
            snapshot_id = snapshot.snapshot_id
            writes.append(write)
            main = ours.refs.get(MAIN_BRANCH)
            update["snapshots"] = [*ours.snapshots, snapshot]
            update["current_snapshot_id"] = snapshot.snapshot_id
            update["refs"] = {
                **ours.refs,
                MAIN_BRANCH: (
                    main.model_copy(update={"snapshot_id": snapshot.snapshot_id})
                    if main
                    else SnapshotRef.model_validate(
                        {"snapshot-id": snapshot.snapshot_id, "type": SnapshotRefType.BRANCH}
                    )
                ),
            }
            update["snapshot_log"] = [
                *ours.snapshot_log,
                SnapshotLogEntry.model_validate(
                    {"snapshot-id": snapshot.snapshot_id, "timestamp-ms": now}
                ),
            ]
            update["last_sequence_number"] = snapshot.sequence_number
            summary: Mapping[str, str] = snapshot.summary or {}
            detail.insert(
                0,
                f"the source's {len(data.added)} added and {len(data.removed)} removed file(s) "
                f"({summary.get('added-records') or 0} rows added, "
                f"{summary.get('deleted-records') or 0} removed) applied as snapshot "
                f"{snapshot.snapshot_id}",
            )
        update["metadata_log"] = _merged_log(ours, self.ours_location, theirs, self.theirs_location)
        merged = ours.model_copy(update=update)
        location = _next_metadata_location(merged, self.ours_location)

        writes.append(_write_metadata(self.io, merged, location))
        del base
        return Planned(
            self.path,
            Pointer(location, self.ours_location).to_bytes(),
            TableMerge(
                self.dotted,
                "merged",
                "; ".join(detail) or "metadata changes of both sides combined",
                snapshot_id,
                location,
            ),
            writes,
        )

    def _snapshot(
        self, data: _DataMerge, schema: Schema, now: int
    ) -> tuple[Snapshot, Callable[[], None]]:
        """A snapshot on the destination's current one holding its live files minus the files
        the source removed plus the ones it added.

        The source's files keep their order of sequence numbers, shifted above the
        destination's (Iceberg spec, "Sequence Numbers"): its position deletes still apply to
        the files they name, the destination's equality deletes do not reach rows the source
        added.
        """
        ours, base, theirs = self.ours, self.base, self.theirs
        ours_last, base_last, theirs_last = (_last_sequence_number(m) for m in (ours, base, theirs))
        shift = ours_last - base_last
        sequence = max(ours_last + 1, theirs_last + shift)
        snapshot_id = _snapshot_id({s.snapshot_id for s in ours.snapshots})
        directory = _metadata_dir(ours)
        manifest_list = f"{directory}/snap-{snapshot_id}-1-{uuid.uuid4()}.avro"
        collector = SnapshotSummaryCollector()
        previous = ours.current_snapshot()
        specs = ours.specs() | theirs.specs()
        for path in sorted(data.removed):
            entry = data.live.entries[path]
            collector.remove_file(entry.data_file, schema, specs[entry.data_file.spec_id])
        for entry in data.added:
            collector.add_file(entry.data_file, schema, specs[entry.data_file.spec_id])
        deletes = any(e.data_file.content != DataFileContent.DATA for e in data.added)
        operation = Operation.OVERWRITE if data.removed or deletes else Operation.APPEND
        summary = update_snapshot_summaries(
            Summary(
                operation,
                **collector.build(),
                **{
                    "vxp.merge.source-snapshot-id": str(theirs.current_snapshot_id),
                    "vxp.merge.base-snapshot-id": str(base.current_snapshot_id),
                },
            ),
            previous.summary if previous is not None else None,
        )
        snapshot = Snapshot.model_validate(
            {
                "snapshot-id": snapshot_id,
                "parent-snapshot-id": ours.current_snapshot_id,
                "sequence-number": sequence,
                "timestamp-ms": now,
                "manifest-list": manifest_list,
                "summary": summary,
                "schema-id": schema.schema_id,
            }
        )

        def write() -> None:
            for path, content in data.pending:
                with self.io.new_output(path).create(overwrite=False) as stream:
                    stream.write(content)
            manifests: list[ManifestFile] = []
            touched = {data.live.manifest_of[p] for p in data.removed}
            for manifest in data.live.manifests:
                if manifest.manifest_path not in touched:
                    manifests.append(manifest)
                    continue
                writer_type = (
                    _DeleteManifestWriter
                    if manifest.content == ManifestContent.DELETES
                    else ManifestWriterV2
                )
                with writer_type(
                    ours.specs()[manifest.partition_spec_id],
                    schema,
                    self.io.new_output(f"{directory}/{uuid.uuid4()}-m0.avro"),
                    snapshot_id,
                    "deflate",
                ) as writer:
                    for entry in manifest.fetch_manifest_entry(self.io, discard_deleted=True):
                        if entry.data_file.file_path in data.removed:
                            writer.delete(entry)
                        else:
                            writer.existing(entry)
                manifests.append(writer.to_manifest_file())
            groups: dict[tuple[bool, int], list[ManifestEntry]] = {}
            for entry in data.added:
                key = (entry.data_file.content != DataFileContent.DATA, entry.data_file.spec_id)
                groups.setdefault(key, []).append(entry)
            for (is_delete, spec_id), entries in sorted(groups.items()):
                writer_type = _DeleteManifestWriter if is_delete else ManifestWriterV2
                with writer_type(
                    specs[spec_id],
                    schema,
                    self.io.new_output(f"{directory}/{uuid.uuid4()}-m1.avro"),
                    snapshot_id,
                    "deflate",
                ) as writer:
                    for entry in entries:
                        assert entry.sequence_number is not None
                        writer.add(
                            ManifestEntry.from_args(
                                status=ManifestEntryStatus.ADDED,
                                snapshot_id=snapshot_id,
                                sequence_number=entry.sequence_number + shift,
                                data_file=entry.data_file,
                            )
                        )
                manifests.append(writer.to_manifest_file())
            with write_manifest_list(
                2,
                self.io.new_output(manifest_list),
                snapshot_id,
                ours.current_snapshot_id,
                sequence,
                "deflate",
            ) as lister:
                lister.add_manifests(manifests)

        return snapshot, write


@dataclass(frozen=True)
class _DataMerge:
    added: list[ManifestEntry]
    removed: set[str]
    live: _Live
    # rewritten files (path, content) to write before the manifests that name them
    pending: list[tuple[str, bytes]] = field(default_factory=list)


# the reserved field ID of a position delete file's file_path column (Iceberg spec, "Reserved
# Field IDs")
_DELETE_FILE_PATH_ID = 2147483546
_METRICS = (
    "column_sizes",
    "value_counts",
    "null_value_counts",
    "nan_value_counts",
    "lower_bounds",
    "upper_bounds",
)


def _copy_file(old: DataFile, **changes: Any) -> DataFile:
    names = [f.name for f in DATA_FILE_TYPE[DEFAULT_READ_VERSION].fields]
    arguments = {name: old[i] for i, name in enumerate(names)}
    arguments.update(changes)
    new = DataFile.from_args(**arguments)
    new.spec_id = old.spec_id
    return new


def _parquet(table: pa.Table) -> bytes:
    buffer = io_module.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _renumbered(
    io: FileIO, metadata: TableMetadata, added: list[ManifestEntry], renumber: dict[int, int]
) -> tuple[list[ManifestEntry], list[tuple[str, bytes]]]:
    """The source's added files, those holding a renumbered column rewritten with its new field
    ID (``PARQUET:field_id``, Iceberg spec "Parquet"), and its position deletes of them
    rewritten to name the new files (same rows in the same order, so positions hold).

    The rewritten files are held in memory until the merge lands: they are the source's own
    additions on a branch, not the table.
    """
    data_dir = (
        metadata.properties.get("write.data.path") or f"{metadata.location.rstrip('/')}/data"
    ).rstrip("/")
    moved: dict[str, str] = {}
    pending: list[tuple[str, bytes]] = []
    result: list[ManifestEntry] = []
    for entry in added:
        old = entry.data_file
        if old.content != DataFileContent.DATA:
            result.append(entry)
            continue
        with io.new_input(old.file_path).open() as stream:
            table = pq.read_table(stream)
        fields = []
        for column in table.schema:
            meta = dict(column.metadata or {})
            fid = int(meta.get(b"PARQUET:field_id", b"-1"))
            if fid in renumber:
                meta[b"PARQUET:field_id"] = str(renumber[fid]).encode()
            fields.append(column.with_metadata(meta))
        schema = pa.schema(fields, metadata=table.schema.metadata)
        if schema.equals(table.schema, check_metadata=True):
            result.append(entry)
            continue
        content = _parquet(pa.Table.from_arrays(table.columns, schema=schema))
        path = f"{data_dir}/{uuid.uuid4()}-merged.parquet"
        moved[old.file_path] = path
        pending.append((path, content))
        metrics = {
            name: {renumber.get(k, k): v for k, v in (getattr(old, name) or {}).items()}
            for name in _METRICS
        }
        result.append(
            _with_file(
                entry,
                _copy_file(
                    old,
                    file_path=path,
                    file_size_in_bytes=len(content),
                    split_offsets=None,
                    **metrics,
                ),
            )
        )
    final: list[ManifestEntry] = []
    for entry in result:
        old = entry.data_file
        if old.content != DataFileContent.POSITION_DELETES or not moved:
            final.append(entry)
            continue
        with io.new_input(old.file_path).open() as stream:
            table = pq.read_table(stream)
        paths = table.column("file_path").to_pylist()
        if not any(p in moved for p in paths):
            final.append(entry)
            continue
        index = table.schema.get_field_index("file_path")
        replaced = pa.array([moved.get(p, p) for p in paths], type=table.schema.field(index).type)
        content = _parquet(table.set_column(index, table.schema.field(index), replaced))
        path = f"{data_dir}/{uuid.uuid4()}-merged-deletes.parquet"
        pending.append((path, content))
        bounds = {
            name: {k: v for k, v in (getattr(old, name) or {}).items() if k != _DELETE_FILE_PATH_ID}
            for name in ("lower_bounds", "upper_bounds")
        }
        final.append(
            _with_file(
                entry,
                _copy_file(
                    old,
                    file_path=path,
                    file_size_in_bytes=len(content),
                    split_offsets=None,
                    **bounds,
                ),
            )
        )
    return final, pending


def _with_file(entry: ManifestEntry, data_file: DataFile) -> ManifestEntry:
    return ManifestEntry.from_args(
        status=entry.status,
        snapshot_id=entry.snapshot_id,
        sequence_number=entry.sequence_number,
        file_sequence_number=entry.file_sequence_number,
        data_file=data_file,
    )


_PREVIOUS_VERSIONS_MAX = 100


def _last_sequence_number(metadata: TableMetadata) -> int:
    # format version 1 has no sequence numbers: all are 0 (Iceberg spec, "Sequence Numbers")
    return int(getattr(metadata, "last_sequence_number", 0))


def _snapshot_id(taken: set[int]) -> int:
    while True:
        # a positive 63-bit ID, as Iceberg's writers make them
        candidate = uuid.uuid4().int & ((1 << 63) - 1)
        if candidate not in taken:
            return candidate
