"""What one version of an Iceberg table holds and what changed between two versions of it.

Row counts, column changes, metadata changes (schema, partition spec, properties, sort order),
the snapshots in between, and the rows added, removed and changed. Used by ``vxp tables list``,
``vxp diff`` and ``vxp log``; all reads go straight to the metadata, manifest and data files, as
engines read them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFileContent, FileFormat, ManifestEntry
from pyiceberg.schema import Schema, index_by_id
from pyiceberg.table import FileScanTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

# --- row counts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveFiles:
    """The files of one snapshot: data files and delete files, each with its data sequence
    number (Iceberg spec, "Manifests": sequence numbers inherited from the manifest list)."""

    data: dict[str, ManifestEntry] = field(default_factory=dict)
    position_deletes: dict[str, ManifestEntry] = field(default_factory=dict)
    equality_deletes: dict[str, ManifestEntry] = field(default_factory=dict)

    @classmethod
    def read(cls, io: FileIO, snapshot: Snapshot | None) -> LiveFiles:
        """Every live file of ``snapshot`` (none without a snapshot), from its manifests.

        Raises:
            OSError, ValueError: a manifest cannot be read.
        """
        live = cls()
        if snapshot is None:
            return live
        for manifest in snapshot.manifests(io):
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                content = entry.data_file.content
                target = (
                    live.data
                    if content == DataFileContent.DATA
                    else live.position_deletes
                    if content == DataFileContent.POSITION_DELETES
                    else live.equality_deletes
                )
                target[entry.data_file.file_path] = entry
        return live


def _positions(io: FileIO, entry: ManifestEntry) -> pa.Table:
    """``file_path``, ``pos`` of a position delete file (Iceberg spec, "Position Delete Files")."""
    with io.new_input(entry.data_file.file_path).open() as stream:
        return pq.read_table(stream, columns=["file_path", "pos"])


def deleted_positions(io: FileIO, live: LiveFiles) -> dict[str, set[int]]:
    """Per live data file, the row positions live position deletes remove from it.

    A position delete applies to a data file whose data sequence number is not greater than the
    delete's (Iceberg spec, "Scan Planning"); positions of files no longer live are dropped, and
    a position deleted twice counts once.

    Raises:
        OSError: a delete file cannot be read.
    """
    deleted: dict[str, set[int]] = {}
    for entry in live.position_deletes.values():
        if entry.data_file.file_format != FileFormat.PARQUET:
            raise ValueError(f"position delete file {entry.data_file.file_path} is not Parquet")
        table = _positions(io, entry)
        sequence = entry.sequence_number or 0
        for path, pos in zip(
            table.column("file_path").to_pylist(), table.column("pos").to_pylist(), strict=True
        ):
            data = live.data.get(path)
            if data is not None and (data.sequence_number or 0) <= sequence:
                deleted.setdefault(path, set()).add(pos)
    return deleted


def count_rows(io: FileIO, metadata: TableMetadata, snapshot: Snapshot | None = None) -> int | None:
    """The rows ``snapshot`` (default: the current one) holds, deletes applied.

    The snapshot summary answers when it says there are no delete files; otherwise the live data
    files' record counts minus the distinct positions live position deletes remove from them.
    Equality deletes cannot be counted without reading the rows: then the rows are scanned
    (pyiceberg), and None is answered when that fails too. ``total-records`` alone is wrong after
    merge-on-read deletes (Trino, DuckDB): it counts rows of data files, deleted or not.

    Raises:
        OSError: a manifest or delete file cannot be read.
    """
    snapshot = snapshot if snapshot is not None else metadata.current_snapshot()
    if snapshot is None:
        return 0
    summary: Mapping[str, str] = snapshot.summary or {}
    total = summary.get("total-records")
    if total is not None and summary.get("total-delete-files") == "0":
        return int(total)
    live = LiveFiles.read(io, snapshot)
    if not live.position_deletes and not live.equality_deletes:
        return sum(e.data_file.record_count for e in live.data.values())
    if not live.equality_deletes:
        deleted = deleted_positions(io, live)
        return sum(e.data_file.record_count for e in live.data.values()) - sum(
            len(p) for p in deleted.values()
        )
    try:
        return len(read_rows(io, metadata, snapshot, live, live.data.keys()))
    except (ValueError, NotImplementedError, OSError):
        return None


def read_rows(
    io: FileIO,
    metadata: TableMetadata,
    snapshot: Snapshot,
    live: LiveFiles,
    paths: Iterable[str],
) -> pa.Table:
    """The rows of the data files ``paths`` of ``snapshot``, its deletes applied, in the
    snapshot's schema (pyiceberg's Arrow reader, which maps columns by field ID).

    Raises:
        ValueError, NotImplementedError: pyiceberg cannot apply a delete file (equality deletes).
        OSError: a file cannot be read.
    """
    from pyiceberg.io.pyarrow import ArrowScan

    schema = _schema_of(metadata, snapshot)
    deletes = [*live.position_deletes.values(), *live.equality_deletes.values()]
    tasks = []
    for path in paths:
        entry = live.data[path]
        applicable = {
            d.data_file for d in deletes if (d.sequence_number or 0) >= (entry.sequence_number or 0)
        }
        tasks.append(FileScanTask(entry.data_file, delete_files=applicable))
    if not tasks:
        return schema.as_arrow().empty_table()
    scan = ArrowScan(metadata, io, schema, AlwaysTrue())
    return scan.to_table(tasks)


def _schema_of(metadata: TableMetadata, snapshot: Snapshot) -> Schema:
    if snapshot.schema_id is not None:
        found = metadata.schema_by_id(snapshot.schema_id)
        if found is not None:
            return found
    return metadata.schema()


# --- column and metadata changes ----------------------------------------------------------------


@dataclass(frozen=True)
class ColumnChange:
    """One column change between two schemas, matched by field ID.

    Attributes:
        change: ``added``, ``dropped``, ``renamed``, ``retyped``, ``required``, ``optional`` or
            ``doc``.
        column: the column's dotted name (the newer name when renamed).
        before, after: the old and new value (name, type or doc), None when not applicable.
    """

    change: str
    column: str
    before: str | None = None
    after: str | None = None

    def describe(self) -> str:
        """``added x long``, ``renamed a to b``, ``retyped c int to long``, … in words."""
        if self.change == "added":
            return f"added {self.column} {self.after}"
        if self.change == "dropped":
            return f"dropped {self.column}"
        if self.change == "renamed":
            return f"renamed {self.before} to {self.column}"
        if self.change == "retyped":
            return f"retyped {self.column} {self.before} to {self.after}"
        if self.change in ("required", "optional"):
            return f"made {self.column} {self.change}"
        return f"changed the doc of {self.column}"

    def to_json(self) -> dict[str, Any]:
        """``{"change", "column", "before", "after"}``."""
        return {
            "change": self.change,
            "column": self.column,
            "before": self.before,
            "after": self.after,
        }


def column_changes(before: Schema, after: Schema) -> list[ColumnChange]:
    """Columns added, dropped, renamed, retyped, made required or optional, or re-documented,
    nested ones included, matched by field ID (Iceberg spec, "Schema Evolution")."""
    old = {fid: (before.find_column_name(fid), f) for fid, f in index_by_id(before).items()}
    new = {fid: (after.find_column_name(fid), f) for fid, f in index_by_id(after).items()}
    changes = [
        ColumnChange("added", str(name), after=str(f.field_type))
        for fid, (name, f) in new.items()
        if fid not in old
    ]
    changes += [
        ColumnChange("dropped", str(name)) for fid, (name, _) in old.items() if fid not in new
    ]
    for fid, (name, f) in new.items():
        if fid not in old:
            continue
        old_name, o = old[fid]
        if old_name != name:
            changes.append(ColumnChange("renamed", str(name), str(old_name), str(name)))
        if o.field_type.is_primitive and o.field_type != f.field_type:
            changes.append(ColumnChange("retyped", str(name), str(o.field_type), str(f.field_type)))
        if o.required != f.required:
            changes.append(ColumnChange("required" if f.required else "optional", str(name)))
        if o.doc != f.doc:
            changes.append(ColumnChange("doc", str(name), o.doc, f.doc))
    return changes


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot between two versions: its ID and its operation as Iceberg names it
    (``append``, ``overwrite``, ``delete``, ``replace``)."""

    snapshot_id: int
    operation: str | None

    def to_json(self) -> dict[str, Any]:
        """``{"snapshot_id", "operation"}``."""
        return {"snapshot_id": self.snapshot_id, "operation": self.operation}


@dataclass(frozen=True)
class MetadataChange:
    """What changed from one version of a table's metadata to another.

    Attributes:
        snapshots: snapshots of the newer version's history the older one did not have, oldest
            first; empty when the data did not change.
        columns: column changes of the current schema.
        partition_spec: whether the default partition spec changed.
        sort_order: whether the default sort order changed.
        properties: table properties added, changed or removed, sorted.
        rolled_back: the current snapshot moved to one outside the newer history (rollback).
    """

    snapshots: list[SnapshotInfo] = field(default_factory=list)
    columns: list[ColumnChange] = field(default_factory=list)
    partition_spec: bool = False
    sort_order: bool = False
    properties: list[str] = field(default_factory=list)
    rolled_back: bool = False

    def describe(self) -> str:
        """e.g. ``delete 81…, append 92…; schema: added x long; partition spec; properties: a``."""
        parts: list[str] = []
        if self.snapshots:
            parts.append(", ".join(f"{s.operation or '?'} {s.snapshot_id}" for s in self.snapshots))
        if self.rolled_back:
            parts.append("rolled back")
        if self.columns:
            parts.append("schema: " + "; ".join(c.describe() for c in self.columns))
        if self.partition_spec:
            parts.append("partition spec")
        if self.sort_order:
            parts.append("sort order")
        if self.properties:
            parts.append("properties: " + ", ".join(self.properties))
        return "; ".join(parts) or "metadata only"

    def to_json(self) -> dict[str, Any]:
        """Every field, lists of objects for snapshots and columns."""
        return {
            "snapshots": [s.to_json() for s in self.snapshots],
            "columns": [c.to_json() for c in self.columns],
            "partition_spec": self.partition_spec,
            "sort_order": self.sort_order,
            "properties": self.properties,
            "rolled_back": self.rolled_back,
        }


def _spec_fields(metadata: TableMetadata) -> Any:
    return metadata.spec().model_dump(mode="json").get("fields")


def _order_fields(metadata: TableMetadata) -> Any:
    order = metadata.sort_order_by_id(metadata.default_sort_order_id)
    return order.model_dump(mode="json").get("fields") if order is not None else None


def metadata_change(before: TableMetadata | None, after: TableMetadata) -> MetadataChange:
    """What changed from ``before`` (None: the table is new) to ``after``."""
    known = {s.snapshot_id for s in before.snapshots} if before is not None else set()
    history: list[SnapshotInfo] = []
    snapshot = after.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id not in known:
        operation = snapshot.summary.operation.value if snapshot.summary else None
        history.append(SnapshotInfo(snapshot.snapshot_id, operation))
        parent = snapshot.parent_snapshot_id
        snapshot = after.snapshot_by_id(parent) if parent is not None else None
    history.reverse()
    if before is None:
        return MetadataChange(snapshots=history)
    rolled_back = not history and after.current_snapshot_id != before.current_snapshot_id
    keys = set(before.properties) | set(after.properties)
    return MetadataChange(
        snapshots=history,
        columns=column_changes(before.schema(), after.schema()),
        partition_spec=_spec_fields(before) != _spec_fields(after),
        sort_order=_order_fields(before) != _order_fields(after),
        properties=sorted(k for k in keys if before.properties.get(k) != after.properties.get(k)),
        rolled_back=rolled_back,
    )


# --- rows added, removed and changed ------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.date | datetime.time):
        # ISO 8601 (``2024-01-15``, ``2024-01-15T10:30:00+00:00``), not Python's str()
        return value.isoformat()
    # Decimal, UUID: their plain text (``91.2``)
    return str(value)


def row_text(row: Mapping[str, Any]) -> str:
    """One sample row as text, ``id=3, site=basel, visit=2024-01-15, score=91.2``: values as in
    JSON output (ISO dates, plain decimals, hex bytes), SQL NULL as ``null``, nested values as
    JSON.

    Args:
        row: column name → value, as :attr:`RowChanges.sample_added` holds them.
    """
    parts: list[str] = []
    for name, value in row.items():
        plain = _jsonable(value)
        if plain is None:
            text = "null"
        elif isinstance(plain, dict | list | bool):
            text = json.dumps(plain)
        else:
            text = str(plain)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


@dataclass(frozen=True)
class RowChanges:
    """Rows added, removed and (for a table with a key) changed between two versions.

    Counted on the common columns (matched by field ID, named as in the newer version).

    Attributes:
        key: the identifier (key) columns the rows were matched by; empty for a table without a
            key, whose changed rows then count as one removed and one added.
        added, removed: rows only in the newer or only in the older version (keys, with a key).
        changed: rows whose key is in both with other values; None without a key.
        sample_added, sample_removed: up to the requested number of such rows, ordered.
        sample_changed: up to that number of ``{"before", "after"}`` pairs.
    """

    key: list[str]
    added: int
    removed: int
    changed: int | None
    sample_added: list[dict[str, Any]] = field(default_factory=list)
    sample_removed: list[dict[str, Any]] = field(default_factory=list)
    sample_changed: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Counts, key and samples (values as JSON: dates and decimals as strings)."""
        return {
            "key": self.key,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "sample": {
                "added": _jsonable(self.sample_added),
                "removed": _jsonable(self.sample_removed),
                "changed": _jsonable(self.sample_changed),
            },
        }


def _project(rows: pa.Table, schema: Schema, ids: list[int], target: Schema) -> pa.Table:
    """``rows`` (in ``schema``) narrowed to the top-level columns ``ids``, named and typed as
    in ``target`` (widened types cast)."""
    columns = []
    for fid in ids:
        column = rows.column(schema.find_field(fid).name)
        wanted = target.as_arrow().field(target.find_field(fid).name).type
        columns.append(column.cast(wanted) if column.type != wanted else column)
    return pa.table(columns, names=[target.find_field(fid).name for fid in ids])


def row_changes(
    io: FileIO,
    before: TableMetadata | None,
    after: TableMetadata | None,
    sample: int = 0,
) -> RowChanges | None:
    """Rows added, removed and changed from ``before`` to ``after`` (None: no table there).

    Only data files that differ between the two versions are read (added or removed files, and
    files whose position deletes changed): the rows of every other file are the same on both
    sides. Rows are compared with DuckDB, in process: by the newer version's identifier fields
    when it has them (Iceberg spec, "Identifier Field IDs"), else as multisets of whole rows.

    Returns:
        The changes, or None when they cannot be read (equality deletes, non-Parquet deletes).

    Raises:
        OSError: a manifest or data file cannot be read.
    """
    import duckdb

    b_snap = before.current_snapshot() if before is not None else None
    a_snap = after.current_snapshot() if after is not None else None
    b_live, a_live = LiveFiles.read(io, b_snap), LiveFiles.read(io, a_snap)
    if b_live.equality_deletes or a_live.equality_deletes:
        return None
    try:
        b_deleted, a_deleted = deleted_positions(io, b_live), deleted_positions(io, a_live)
    except ValueError:
        return None
    b_scope = [
        p for p in b_live.data if p not in a_live.data or b_deleted.get(p) != a_deleted.get(p)
    ]
    a_scope = [
        p for p in a_live.data if p not in b_live.data or b_deleted.get(p) != a_deleted.get(p)
    ]
    reference = after if after is not None else before
    if reference is None:
        return RowChanges([], 0, 0, None)
    ref_snap = a_snap if after is not None else b_snap
    ref_schema = _schema_of(reference, ref_snap) if ref_snap is not None else reference.schema()
    b_schema = _schema_of(before, b_snap) if before is not None and b_snap else None
    a_schema = _schema_of(after, a_snap) if after is not None and a_snap else None
    ids = [
        f.field_id
        for f in ref_schema.fields
        if all(
            s is None or f.field_id in {x.field_id for x in s.fields} for s in (b_schema, a_schema)
        )
    ]
    empty = pa.table(
        [
            pa.array([], type=ref_schema.as_arrow().field(ref_schema.find_field(i).name).type)
            for i in ids
        ],
        names=[ref_schema.find_field(i).name for i in ids],
    )
    try:
        old = (
            _project(read_rows(io, before, b_snap, b_live, b_scope), b_schema, ids, ref_schema)
            if before is not None and b_snap is not None and b_schema is not None
            else empty
        )
        new = (
            _project(read_rows(io, after, a_snap, a_live, a_scope), a_schema, ids, ref_schema)
            if after is not None and a_snap is not None and a_schema is not None
            else empty
        )
    except (ValueError, NotImplementedError):
        return None
    key = [ref_schema.find_field(i).name for i in ref_schema.identifier_field_ids if i in ids]
    names = [ref_schema.find_field(i).name for i in ids]
    # every identifier below is a column name of the table's schema, quoted by _ident (S608)
    quoted = ", ".join(_ident(n) for n in names)
    con = duckdb.connect()
    try:
        con.register("old_rows", old)
        con.register("new_rows", new)
        limit = max(sample, 0)
        if not key:
            added_q = f"SELECT {quoted} FROM new_rows EXCEPT ALL SELECT {quoted} FROM old_rows"  # noqa: S608
            removed_q = f"SELECT {quoted} FROM old_rows EXCEPT ALL SELECT {quoted} FROM new_rows"  # noqa: S608
            added = _count(con, added_q)
            removed = _count(con, removed_q)
            return RowChanges(
                [],
                added,
                removed,
                None,
                _sample(con, added_q, quoted, limit),
                _sample(con, removed_q, quoted, limit),
            )
        keys = ", ".join(_ident(n) for n in key)
        on = " AND ".join(f"o.{_ident(n)} IS NOT DISTINCT FROM n.{_ident(n)}" for n in key)
        added_q = f"SELECT n.* FROM new_rows n ANTI JOIN old_rows o ON {on}"  # noqa: S608
        removed_q = f"SELECT o.* FROM old_rows o ANTI JOIN new_rows n ON {on}"  # noqa: S608
        differs = " OR ".join(
            f"o.{_ident(n)} IS DISTINCT FROM n.{_ident(n)}" for n in names if n not in key
        )
        changed_q = (
            f"SELECT o AS before, n AS after FROM old_rows o JOIN new_rows n ON {on} "  # noqa: S608
            f"WHERE {differs or 'false'}"
        )
        changed_rows = con.execute(
            f"SELECT * FROM ({changed_q}) ORDER BY after LIMIT {limit}"  # noqa: S608
        ).to_arrow_table()
        return RowChanges(
            key,
            _count(con, added_q),
            _count(con, removed_q),
            _count(con, changed_q),
            _sample(con, added_q, keys, limit),
            _sample(con, removed_q, keys, limit),
            changed_rows.to_pylist(),
        )
    finally:
        con.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(con: Any, query: str) -> int:
    row = con.execute(f"SELECT count(*) FROM ({query})").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def _sample(con: Any, query: str, order: str, limit: int) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    table = con.execute(
        f"SELECT * FROM ({query}) ORDER BY {order} LIMIT {limit}"  # noqa: S608
    ).to_arrow_table()
    return list(table.to_pylist())
