"""Iceberg tables as a lakeFS ref holds them: list them, and compare two refs table by table.

A ref's catalog objects (see :mod:`vxp.core.layout`) name each table's current metadata file; the
metadata's current snapshot gives the snapshot ID and, in its summary, the row count. Metadata
files are read straight from object storage (file:// embedded, s3:// on the full stack), as
engines do; lakeFS only holds the pointers.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from pyiceberg.io import FileIO, load_file_io
from pyiceberg.table.metadata import TableMetadata, TableMetadataUtil

from vxp.core.errors import InvalidInput, NotFound, VxpError
from vxp.core.layout import (
    NAMESPACES,
    ROOT,
    TABLES,
    Namespace,
    Pointer,
    parse_namespace_marker,
    parse_table_pointer,
    table_pointer,
)
from vxp.core.settings import Settings
from vxp.domain.refs import resolve
from vxp.domain.table_changes import (
    MetadataChange,
    RowChanges,
    count_rows,
    metadata_change,
    row_changes,
)
from vxp.lakefs import LakeFSError, Session

_GZIP_MAGIC = b"\x1f\x8b"
_T = TypeVar("_T")


def _name(namespace: Namespace, table: str | None = None) -> str:
    return ".".join((*namespace, table) if table is not None else namespace)


@dataclass(frozen=True)
class TableState:
    """One table at one commit.

    Attributes:
        namespace: the namespace's levels.
        name: the table name.
        metadata_location: the URI of its current metadata file.
        snapshot_id: its current snapshot's ID, or None while it has no snapshot.
        rows: the rows of the current snapshot, position and equality deletes applied
            (:func:`vxp.domain.table_changes.count_rows`); 0 without a snapshot, None when they
            cannot be counted.
        last_updated_ms: the metadata's ``last-updated-ms`` (Unix milliseconds).
    """

    namespace: Namespace
    name: str
    metadata_location: str
    # None while the table has no snapshot (created, never written)
    snapshot_id: int | None
    # deletes applied; 0 without a snapshot, None if they cannot be counted
    rows: int | None
    last_updated_ms: int

    @property
    def table(self) -> str:
        """The dotted name ``namespace.table``."""
        return _name(self.namespace, self.name)

    def to_json(self) -> dict[str, Any]:
        """The state for ``--format json`` (``namespace`` as a list of levels)."""
        return {
            "namespace": list(self.namespace),
            "name": self.name,
            "snapshot_id": self.snapshot_id,
            "rows": self.rows,
            "last_updated_ms": self.last_updated_ms,
            "metadata_location": self.metadata_location,
        }


def _state(
    namespace: Namespace, name: str, location: str, metadata: TableMetadata, io: FileIO
) -> TableState:
    snapshot = metadata.current_snapshot()
    try:
        rows = count_rows(io, metadata, snapshot)
    except (OSError, ValueError) as exc:
        raise VxpError(f"cannot count the rows of {_name(namespace, name)}: {exc}") from exc
    return TableState(
        namespace=namespace,
        name=name,
        metadata_location=location,
        snapshot_id=snapshot.snapshot_id if snapshot is not None else None,
        rows=rows,
        last_updated_ms=metadata.last_updated_ms,
    )


class RefReader:
    """Reads catalog objects of one repository and the metadata files they point to.

    Args:
        session: the lakeFS session that reads pointers.
        settings: where metadata files are: their S3 settings on the full stack, none for file://.
        repo: the repository.
    """

    def __init__(self, session: Session, settings: Settings, repo: str) -> None:
        self.repo = repo
        self.session = session
        self.io: FileIO = load_file_io(settings.s3.file_io_properties() if settings.s3 else {})

    def resolve(self, ref: str) -> str:
        """The commit ID ``ref`` names, so every later read sees one consistent state.

        Raises:
            NotFound: no such repository or ref.
            LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
                cannot be reached).
        """
        return resolve(self.session, self.repo, ref)

    def paths(self, commit: str, prefix: str) -> list[str]:
        """Every object path under ``prefix`` at ``commit``, recursively, in path order.

        Raises:
            LakeFSNotFound: no such repository or commit.
            LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
                cannot be reached).
        """
        return [e.path for e in self.session.list_objects(self.repo, commit, prefix, delimiter="")]

    def table(self, commit: str, namespace: Namespace, name: str) -> TableState:
        """The table's state at ``commit``.

        Raises:
            NotFound: no such table at ``commit``.
            InvalidInput: its pointer is malformed.
            VxpError: its metadata file cannot be read or is not Iceberg table metadata.
            LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
                cannot be reached).
        """
        location, metadata = self.load(commit, namespace, name)
        return _state(namespace, name, location, metadata, self.io)

    def load(self, commit: str, namespace: Namespace, name: str) -> tuple[str, TableMetadata]:
        """The table's metadata location and metadata at ``commit``.

        Raises:
            NotFound: no such table at ``commit``.
            InvalidInput: its pointer is malformed.
            VxpError: its metadata file cannot be read or is not Iceberg table metadata.
            LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
                cannot be reached).
        """
        path = table_pointer(namespace, name)
        raw = self.session.get_object(self.repo, commit, path)
        if raw is None:
            raise NotFound(f"table {_name(namespace, name)} does not exist at {commit[:12]}")
        try:
            pointer = Pointer.from_bytes(raw)
        except ValueError as exc:
            raise InvalidInput(
                f"table pointer {path} at {commit[:12]} is malformed: {exc}"
            ) from exc
        location = pointer.metadata_location
        return location, self.metadata(location)

    def metadata(self, location: str) -> TableMetadata:
        """The Iceberg table metadata at ``location``, gzip-compressed or not (Iceberg spec, "Table
        Metadata").

        Raises:
            VxpError: the file cannot be read (the hint names the S3 settings), or is not valid
                table metadata.
        """
        try:
            with self.io.new_input(location).open(seekable=False) as stream:
                raw = stream.read()
        except (OSError, ValueError) as exc:
            raise VxpError(
                f"cannot read table metadata {location}: {exc}",
                hint="on the full stack the S3 settings come from `vxp env` "
                "(VXP_S3_ENDPOINT, VXP_S3_ACCESS_KEY_ID, VXP_S3_SECRET_ACCESS_KEY)",
            ) from exc
        try:
            if raw[:2] == _GZIP_MAGIC:
                raw = gzip.decompress(raw)
            return TableMetadataUtil.parse_raw(raw.decode())
        except (ValueError, EOFError, zlib.error) as exc:
            raise VxpError(f"{location} is not valid Iceberg table metadata: {exc}") from exc


# --- tables at a ref -------------------------------------------------------------------------


@dataclass(frozen=True)
class TableProblem:
    """A table a ref names but whose state cannot be read.

    Attributes:
        namespace: the namespace's levels.
        name: the table name.
        pointer: the path of its pointer object in the ref (:mod:`vxp.core.layout`).
        error: why: a malformed pointer, or a metadata file that cannot be read or parsed.
        change: in a diff, how the table changed (``added``, ``dropped``, ``changed``).
    """

    namespace: Namespace
    name: str
    pointer: str
    error: str
    change: str | None = None

    @property
    def table(self) -> str:
        """The dotted name ``namespace.table``."""
        return _name(self.namespace, self.name)

    def to_json(self) -> dict[str, Any]:
        """The problem for ``--format json`` (``namespace`` as a list of levels)."""
        body: dict[str, Any] = {
            "namespace": list(self.namespace),
            "name": self.name,
            "pointer": self.pointer,
            "error": self.error,
        }
        if self.change is not None:
            body["change"] = self.change
        return body


def _unless_unreadable(
    problems: list[TableProblem],
    table: tuple[Namespace, str],
    pointer: str,
    read: Callable[[], _T],
    change: str | None = None,
) -> _T | None:
    """``read()``; or None, once why it failed is added to ``problems`` as ``table``'s.

    Raises:
        LakeFSError: lakeFS itself failed, which is no problem of one table.
    """
    try:
        return read()
    except LakeFSError:
        raise
    except VxpError as exc:
        problems.append(TableProblem(*table, pointer, exc.message, change))
        return None


def problems_error(problems: list[TableProblem], what: str) -> VxpError:
    """One error naming every table of ``problems`` with its reason, after the others were
    shown: ``"<n> table(s) <what>:"`` and a line per table."""
    count = "1 table" if len(problems) == 1 else f"{len(problems)} tables"
    reasons = "".join(f"\n  {p.table}: {p.error}" for p in problems)
    return VxpError(
        f"{count} {what}:{reasons}",
        hint="every other table is shown; each reason names the pointer object or metadata file "
        "to repair (on a work branch) or drop",
    )


@dataclass(frozen=True)
class RefTables:
    """Every namespace and table of one ref, as ``vxp tables list`` shows them.

    Attributes:
        ref: the ref as the user named it.
        commit_id: the commit it named when read.
        namespaces: every namespace, sorted.
        tables: every table that could be read, sorted by dotted name.
        problems: every table that could not be read, sorted by dotted name.
    """

    ref: str
    commit_id: str
    namespaces: list[Namespace]
    tables: list[TableState]
    problems: list[TableProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The listing for ``--format json``."""
        return {
            "ref": self.ref,
            "commit_id": self.commit_id,
            "namespaces": [list(ns) for ns in self.namespaces],
            "tables": [t.to_json() for t in self.tables],
            "problems": [p.to_json() for p in self.problems],
        }


def tables_at(session: Session, settings: Settings, repo: str, ref: str) -> RefTables:
    """Every namespace and table at ``ref``, with each table's current snapshot and row count.

    A table whose pointer is malformed or whose metadata file cannot be read or parsed does not
    hide the others: it is a :class:`TableProblem` of the result, each with its reason.

    Raises:
        NotFound: no such repository or ref.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    reader = RefReader(session, settings, repo)
    commit = reader.resolve(ref)
    namespaces = [
        ns
        for ns in map(parse_namespace_marker, reader.paths(commit, NAMESPACES + "/"))
        if ns is not None
    ]
    tables: list[TableState] = []
    problems: list[TableProblem] = []
    for path in reader.paths(commit, TABLES + "/"):
        parsed = parse_table_pointer(path)
        if parsed is None:
            continue
        state = _unless_unreadable(problems, parsed, path, partial(reader.table, commit, *parsed))
        if state is not None:
            tables.append(state)
    return RefTables(
        ref,
        commit,
        sorted(namespaces),
        sorted(tables, key=lambda t: t.table),
        sorted(problems, key=lambda p: p.table),
    )


# --- diff of two refs ------------------------------------------------------------------------


@dataclass(frozen=True)
class TableDiff:
    """How one table differs between two refs.

    Attributes:
        table: the dotted name.
        change: ``added``, ``dropped`` or ``changed``.
        before: its state on the left ref; None when added.
        after: its state on the right ref; None when dropped.
        metadata: what changed in its metadata: new snapshots with their operations, columns,
            partition spec, sort order, properties (for an added table: its snapshots).
        rows: rows added, removed and changed; None when they cannot be read (equality
            deletes) or were not asked for.
    """

    table: str
    # added, dropped or changed
    change: str
    before: TableState | None
    after: TableState | None
    metadata: MetadataChange | None = None
    rows: RowChanges | None = None

    def to_json(self) -> dict[str, Any]:
        """The difference for ``--format json``."""
        return {
            "table": self.table,
            "change": self.change,
            "before": self.before.to_json() if self.before else None,
            "after": self.after.to_json() if self.after else None,
            "metadata": self.metadata.to_json() if self.metadata else None,
            "rows": self.rows.to_json() if self.rows else None,
        }


@dataclass(frozen=True)
class RefDiff:
    """What changed from one ref to another: tables, namespaces and the count of other objects.

    Attributes:
        left, right: the refs as the user named them.
        left_commit, right_commit: the commits they named.
        tables: changed tables, sorted by name.
        namespaces_added, namespaces_dropped: dotted namespace names.
        objects: ordinary files (outside ``_vxp/catalog/``) by lakeFS change type.
        problems: changed tables that could not be compared (a malformed pointer, a metadata or
            data file that cannot be read), sorted by name.
    """

    left: str
    left_commit: str
    right: str
    right_commit: str
    tables: list[TableDiff] = field(default_factory=list)
    namespaces_added: list[str] = field(default_factory=list)
    namespaces_dropped: list[str] = field(default_factory=list)
    # ordinary files (everything outside the catalog's objects) by lakeFS change type
    objects: Counter[str] = field(default_factory=Counter)
    problems: list[TableProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The diff for ``--format json``."""
        return {
            "left": {"ref": self.left, "commit_id": self.left_commit},
            "right": {"ref": self.right, "commit_id": self.right_commit},
            "tables": [t.to_json() for t in self.tables],
            "namespaces": {"added": self.namespaces_added, "dropped": self.namespaces_dropped},
            "objects": {kind: self.objects[kind] for kind in ("added", "removed", "changed")},
            "problems": [p.to_json() for p in self.problems],
        }


_TABLE_CHANGE = {"added": "added", "removed": "dropped", "changed": "changed"}


def parse_table_name(dotted: str) -> tuple[Namespace, str]:
    """``ns.sub.table`` → ``(("ns", "sub"), "table")``: the last level is the table.

    Raises:
        InvalidInput: the name has no namespace or an empty level.
    """
    *namespace, name = dotted.split(".")
    if not namespace or "" in namespace or not name:
        raise InvalidInput(
            f"table {dotted!r} is not NAMESPACE.TABLE", hint="e.g. --table trial.visits"
        )
    return tuple(namespace), name


def diff(
    session: Session,
    settings: Settings,
    repo: str,
    left: str,
    right: str,
    *,
    table: str | None = None,
    rows: int | None = 0,
) -> RefDiff:
    """What changed from ``left`` to ``right``: tables, namespaces, and ordinary objects.

    Both refs are compared as they are (lakeFS's two-dot diff), not since their merge base. Per
    changed table: its states (snapshot, rows with deletes applied), its metadata changes and
    the rows added, removed and changed (:func:`vxp.domain.table_changes.row_changes`). A
    changed table that cannot be compared (a malformed pointer, a metadata or data file that
    cannot be read) does not hide the others: it is a :class:`TableProblem` of the result.

    Args:
        table: only this table (``namespace.table``); ordinary objects and namespaces are then
            not compared.
        rows: how many added, removed and changed rows to show per table (0: counts only;
            None: not even counts, which reads no data file).

    Raises:
        NotFound: no such repository, or either ref does not exist.
        InvalidInput: ``table`` is not NAMESPACE.TABLE.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    reader = RefReader(session, settings, repo)
    left_commit, right_commit = reader.resolve(left), reader.resolve(right)
    result = RefDiff(left, left_commit, right, right_commit)
    prefix = table_pointer(*parse_table_name(table)) if table is not None else ""
    for entry in session.diff_refs(repo, left_commit, right_commit, prefix=prefix):
        if prefix and entry.path != prefix:
            continue
        kind = entry.type
        parsed = parse_table_pointer(entry.path)
        namespace = parse_namespace_marker(entry.path)
        if parsed is not None:
            compared = _unless_unreadable(
                result.problems,
                parsed,
                entry.path,
                partial(_table_diff, reader, left_commit, right_commit, parsed, kind, rows),
                _TABLE_CHANGE.get(kind, kind),
            )
            if compared is not None:
                result.tables.append(compared)
        elif namespace is not None and kind in ("added", "removed"):
            names = result.namespaces_added if kind == "added" else result.namespaces_dropped
            names.append(_name(namespace))
        elif not entry.path.startswith(ROOT + "/"):
            result.objects[kind] += 1
    result.tables.sort(key=lambda t: t.table)
    result.problems.sort(key=lambda p: p.table)
    return result


def _table_diff(
    reader: RefReader,
    left_commit: str,
    right_commit: str,
    parsed: tuple[Namespace, str],
    kind: str,
    rows: int | None,
) -> TableDiff:
    namespace, name = parsed
    before = reader.load(left_commit, namespace, name) if kind != "added" else None
    after = reader.load(right_commit, namespace, name) if kind != "removed" else None
    before_state = _state(namespace, name, *before, reader.io) if before else None
    after_state = _state(namespace, name, *after, reader.io) if after else None
    change = _TABLE_CHANGE.get(kind, kind)
    details = metadata_change(before[1] if before else None, after[1]) if after else None
    row_diff: RowChanges | None = None
    try:
        if (rows is not None and change == "changed") or rows:
            row_diff = row_changes(
                reader.io, before[1] if before else None, after[1] if after else None, rows or 0
            )
        elif rows is not None:
            # added or dropped, counts only: every row is added or removed
            key = []
            state = after or before
            if state is not None:
                schema = state[1].schema()
                key = [schema.find_field(i).name for i in schema.identifier_field_ids]
            row_diff = RowChanges(
                key,
                (after_state.rows or 0) if after_state else 0,
                (before_state.rows or 0) if before_state else 0,
                0 if key else None,
            )
    except OSError as exc:
        raise VxpError(f"cannot read the rows of {_name(namespace, name)}: {exc}") from exc
    return TableDiff(_name(namespace, name), change, before_state, after_state, details, row_diff)
