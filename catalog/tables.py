"""Table operations: load, create, commit (one table or a transaction), register, rename, drop.

Table metadata logic is pyiceberg's (``new_table_metadata``, requirement validation,
``update_table_metadata``); this module decides what to read at which ref, which files and
pointers to write, and how the resulting lakeFS commit is described.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table.metadata import TableMetadata, TableMetadataV1, new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import AddSnapshotUpdate, AssertCreate, update_table_metadata

from catalog import commits, refs
from catalog.auth import Caller
from catalog.commits import Change, Write
from catalog.errors import (
    AlreadyExists,
    BadRequest,
    CatalogError,
    CommitFailed,
    NoSuchNamespace,
    NoSuchTable,
)
from catalog.lakefs_api import Session
from catalog.metadata import MetadataFiles
from catalog.models import CommitTableRequest, CreateTableRequest, RegisterTableRequest
from catalog.refs import Location
from catalog.settings import Settings
from catalog.state import Pointer, RefState, table_pointer, validate_name

T = TypeVar("T")


@dataclass(frozen=True)
class TableId:
    location: Location
    name: str

    def __str__(self) -> str:
        return ".".join((*self.location.namespace, self.name))


@dataclass(frozen=True)
class TableResult:
    # None for a staged (not yet committed) table
    metadata_location: str | None
    metadata: bytes


def missing_table(session: Session, table: TableId) -> CatalogError:
    # a missing pointer and a missing ref look the same to a read; say which one it was
    refs.resolve(session, table.location.repo, table.location.ref)
    return NoSuchTable(f"table {str(table)!r} does not exist on ref {table.location.ref!r}")


def _missing_namespace(session: Session, location: Location) -> CatalogError:
    refs.resolve(session, location.repo, location.ref)
    return NoSuchNamespace(
        f"namespace {'.'.join(location.namespace)!r} does not exist on ref {location.ref!r}"
    )


def _empty_metadata() -> TableMetadata:
    """The base a create transaction's updates (add-schema, add-spec, …) are applied to.

    It holds no schema, spec or sort order at all, so the client's first ones (ID 0) are the
    only ones; a placeholder with ID 0 would shadow them. Built without validation because it is
    not valid metadata; the result of applying the updates is validated.
    """
    return TableMetadataV1.model_construct(
        location="",
        table_uuid=uuid.uuid4(),
        last_updated_ms=0,
        last_column_id=-1,
        schema_=None,
        schemas=[],
        current_schema_id=-1,
        partition_spec=[],
        partition_specs=[],
        default_spec_id=-1,
        last_partition_id=None,
        sort_orders=[],
        default_sort_order_id=-1,
        properties={},
        current_snapshot_id=None,
        snapshots=[],
        snapshot_log=[],
        metadata_log=[],
        refs={},
        statistics=[],
        partition_statistics=[],
        format_version=1,
    )


class TableService:
    def __init__(self, settings: Settings, files: MetadataFiles) -> None:
        self.settings = settings
        self.files = files

    # --- reads ---------------------------------------------------------------------------

    def pointer(self, session: Session, table: TableId) -> Pointer | None:
        loc = table.location
        return RefState(session, loc.repo, loc.ref).pointer(loc.namespace, table.name)

    # --- create and register ---------------------------------------------------------------

    def create(
        self, session: Session, caller: Caller, table: TableId, request: CreateTableRequest
    ) -> TableResult:
        validate_name("table", table.name)
        loc = table.location
        if request.location:
            self.files.check_location(request.location.rstrip("/"), "table location")
        location = (request.location or "").rstrip("/") or self.files.new_table_location(
            loc.repo, loc.namespace, table.name
        )
        try:
            metadata = new_table_metadata(
                request.table_schema,
                request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
                request.write_order or UNSORTED_SORT_ORDER,
                location,
                properties=dict(request.properties),
            )
        except (ValueError, IcebergValidationError) as exc:
            raise BadRequest(f"cannot create table {str(table)!r}: {exc}") from exc
        if request.stage_create:
            # nothing is written: the create transaction's commit (assert-create) does it all
            return TableResult(None, metadata.model_dump_json(exclude_none=True).encode())

        metadata_location = self.files.new_metadata_location(location, None)
        written: list[bytes] = []

        def plan(state: RefState) -> Change[TableResult]:
            if not state.namespace_exists(loc.namespace):
                raise _missing_namespace(session, loc)
            if state.pointer(loc.namespace, table.name) is not None:
                raise AlreadyExists(f"table {str(table)!r} already exists on {loc.ref!r}")
            if not written:
                written.append(self.files.write(metadata, metadata_location))
            return Change(
                result=TableResult(metadata_location, written[0]),
                writes=[
                    Write(
                        table_pointer(loc.namespace, table.name),
                        Pointer(metadata_location).to_bytes(),
                    )
                ],
                message=f"catalog: create table {table}",
                metadata=_describe("create-table", [(table, metadata_location, None)]),
            )

        return self._run(session, caller, loc, plan, table)

    def register(
        self, session: Session, caller: Caller, table: TableId, request: RegisterTableRequest
    ) -> TableResult:
        validate_name("table", table.name)
        loc = table.location
        self.files.check_location(request.metadata_location, "metadata location")
        raw = self.files.read_raw(request.metadata_location)
        self.files.read(request.metadata_location)  # must parse as table metadata

        def plan(state: RefState) -> Change[TableResult]:
            if not state.namespace_exists(loc.namespace):
                raise _missing_namespace(session, loc)
            existing = state.pointer(loc.namespace, table.name)
            if existing is not None and not request.overwrite:
                raise AlreadyExists(f"table {str(table)!r} already exists on {loc.ref!r}")
            previous = existing.metadata_location if existing else None
            return Change(
                result=TableResult(request.metadata_location, raw),
                writes=[
                    Write(
                        table_pointer(loc.namespace, table.name),
                        Pointer(request.metadata_location, previous).to_bytes(),
                    )
                ],
                message=f"catalog: register table {table}",
                metadata=_describe("register-table", [(table, request.metadata_location, None)]),
            )

        return self._run(session, caller, loc, plan, table)

    # --- commits -------------------------------------------------------------------------

    def commit(
        self,
        session: Session,
        caller: Caller,
        changes: list[tuple[TableId, CommitTableRequest]],
    ) -> list[TableResult]:
        """Apply one or more tables' changes atomically: all land in one lakeFS merge, or none."""
        if not changes:
            raise BadRequest("a transaction needs at least one table change")
        first = changes[0][0].location
        seen: set[tuple[tuple[str, ...], str]] = set()
        for table, _ in changes:
            if (table.location.repo, table.location.ref) != (first.repo, first.ref):
                raise BadRequest(
                    "all tables of a transaction must be on the same branch "
                    f"({first.ref!r} and {table.location.ref!r} differ)"
                )
            key = (table.location.namespace, table.name)
            if key in seen:
                raise BadRequest(f"table {str(table)!r} appears twice in the transaction")
            seen.add(key)

        def plan(state: RefState) -> Change[list[TableResult]]:
            results: list[TableResult] = []
            writes: list[Write] = []
            described: list[tuple[TableId, str, AddSnapshotUpdate | None]] = []
            for table, request in changes:
                result, pointer, snapshot = self._apply(session, state, table, request)
                results.append(result)
                if pointer is not None:
                    path = table_pointer(table.location.namespace, table.name)
                    writes.append(Write(path, pointer.to_bytes()))
                    assert result.metadata_location is not None
                    described.append((table, result.metadata_location, snapshot))
            action = "commit-table" if len(changes) == 1 else "commit-transaction"
            return Change(
                result=results,
                writes=writes,
                message=_message(described),
                metadata=_describe(action, described),
            )

        return self._run(session, caller, first, plan, None)

    def _apply(
        self, session: Session, state: RefState, table: TableId, request: CommitTableRequest
    ) -> tuple[TableResult, Pointer | None, AddSnapshotUpdate | None]:
        """Validate and apply one table's change; the new pointer is None when nothing changed."""
        ns = table.location.namespace
        current = state.pointer(ns, table.name)
        creating = any(isinstance(req, AssertCreate) for req in request.requirements)
        if current is None and not creating:
            raise missing_table(session, table)
        if current is None and not state.namespace_exists(ns):
            raise _missing_namespace(session, table.location)
        base = self.files.read(current.metadata_location) if current is not None else None
        try:
            for requirement in request.requirements:
                requirement.validate(base)
        except CommitFailedException as exc:
            raise CommitFailed(f"table {str(table)!r}: {exc}") from exc
        if current is not None and not request.updates:
            return (
                TableResult(
                    current.metadata_location, self.files.read_raw(current.metadata_location)
                ),
                None,
                None,
            )
        try:
            updated = update_table_metadata(
                base if base is not None else _empty_metadata(),
                tuple(request.updates),
                enforce_validation=base is None,
                metadata_location=current.metadata_location if current is not None else None,
            )
        except (ValueError, IcebergValidationError) as exc:
            raise BadRequest(f"cannot apply the updates to table {str(table)!r}: {exc}") from exc
        self.files.check_location(updated.location, "table location")
        previous = current.metadata_location if current is not None else None
        location = self.files.new_metadata_location(updated.location, previous)
        raw = self.files.write(updated, location)
        snapshot = next(
            (u for u in reversed(request.updates) if isinstance(u, AddSnapshotUpdate)), None
        )
        return TableResult(location, raw), Pointer(location, previous), snapshot

    # --- rename and drop -----------------------------------------------------------------

    def rename(self, session: Session, caller: Caller, source: TableId, target: TableId) -> None:
        src, dst = source.location, target.location
        if (src.repo, src.ref) != (dst.repo, dst.ref):
            raise BadRequest(
                f"cannot rename across refs ({src.ref!r} to {dst.ref!r}); merge branches instead"
            )
        validate_name("table", target.name)

        def plan(state: RefState) -> Change[None]:
            pointer = state.pointer(src.namespace, source.name)
            if pointer is None:
                raise missing_table(session, source)
            if not state.namespace_exists(dst.namespace):
                raise _missing_namespace(session, dst)
            if state.pointer(dst.namespace, target.name) is not None:
                raise AlreadyExists(f"table {str(target)!r} already exists on {dst.ref!r}")
            return Change(
                result=None,
                writes=[
                    Write(table_pointer(src.namespace, source.name), None),
                    Write(table_pointer(dst.namespace, target.name), pointer.to_bytes()),
                ],
                message=f"catalog: rename table {source} to {target}",
                metadata={
                    "vxp.catalog.action": "rename-table",
                    "vxp.catalog.tables": f"{source}, {target}",
                },
            )

        self._run(session, caller, src, plan, source)

    def drop(self, session: Session, caller: Caller, table: TableId, purge: bool) -> None:
        loc = table.location

        def plan(state: RefState) -> Change[None]:
            pointer = state.pointer(loc.namespace, table.name)
            if pointer is None:
                raise missing_table(session, table)
            return Change(
                result=None,
                writes=[Write(table_pointer(loc.namespace, table.name), None)],
                message=f"catalog: drop table {table}" + (" (purge requested)" if purge else ""),
                metadata=_describe("drop-table", [(table, pointer.metadata_location, None)])
                | {"vxp.catalog.purge-requested": str(purge).lower()},
            )

        # Purging only drops the pointer: the table's files may still be reachable from other
        # branches, tags and commits; `vxp gc` deletes what no retained commit references.
        self._run(session, caller, loc, plan, table)

    # --- helpers -------------------------------------------------------------------------

    def _run(
        self,
        session: Session,
        caller: Caller,
        loc: Location,
        plan: Callable[[RefState], Change[T]],
        table: TableId | None,
    ) -> T:
        what = f"table {str(table)!r}" if table is not None else "the tables"
        return commits.run(
            session,
            loc.repo,
            loc.ref,
            plan,
            caller=caller,
            attempts=self.settings.commit_attempts,
            exhausted=lambda: CommitFailed(
                f"{what} on branch {loc.ref!r} kept changing concurrently "
                f"({self.settings.commit_attempts} attempts); reload and retry"
            ),
        )


def _message(described: list[tuple[TableId, str, AddSnapshotUpdate | None]]) -> str:
    parts = []
    for table, _, snapshot in described:
        if snapshot is None:
            parts.append(f"{table} (metadata)")
        else:
            op = snapshot.snapshot.summary.operation.value if snapshot.snapshot.summary else "?"
            parts.append(f"{table} ({op}, snapshot {snapshot.snapshot.snapshot_id})")
    return "catalog: commit " + ", ".join(parts)


def _describe(
    action: str, described: list[tuple[TableId, str, AddSnapshotUpdate | None]]
) -> dict[str, str]:
    """lakeFS commit metadata naming tables, snapshots and operations, for humans and tools."""
    entries = []
    for table, metadata_location, snapshot in described:
        entry: dict[str, object] = {
            "table": [*table.location.namespace, table.name],
            "metadata-location": metadata_location,
        }
        if snapshot is not None:
            entry["snapshot-id"] = snapshot.snapshot.snapshot_id
            if snapshot.snapshot.summary is not None:
                entry["operation"] = snapshot.snapshot.summary.operation.value
        entries.append(entry)
    return {
        "vxp.catalog.action": action,
        "vxp.catalog.tables": ", ".join(str(table) for table, _, _ in described),
        "vxp.catalog.changes": json.dumps(entries, sort_keys=True),
    }
