"""Table operations: load, create, commit (one table or a transaction), register, rename, drop.

Metadata changes follow Iceberg's Java semantics (:mod:`catalog.table_metadata`); this module
decides what to read at which ref, which files and pointers to write, and how the resulting lakeFS
commit is described. Error messages are Iceberg's own (``Table does not exist: ns.t``), which
clients match on.

Tables and views share one name space: creating, registering or renaming a table onto a view's
name fails, and the other way round (:mod:`catalog.views`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyiceberg.table.metadata import TableMetadataUtil

from catalog import commits, refs
from catalog import table_metadata as tm
from catalog.auth import Caller
from catalog.commits import Change, Write
from catalog.errors import (
    AlreadyExists,
    BadRequest,
    CatalogError,
    CommitFailed,
    NoSuchNamespace,
    NoSuchTable,
    NoSuchWarehouse,
)
from catalog.lakefs_api import Session
from catalog.metadata import METADATA_PATH_PROPERTY, MetadataFiles
from catalog.models import CommitTableRequest, CreateTableRequest, RegisterTableRequest
from catalog.refs import Location
from catalog.settings import Settings
from catalog.state import Pointer, RefState, table_pointer, validate_name

T = TypeVar("T")


@dataclass(frozen=True)
class TableId:
    """A table or view: where it lives in lakeFS, and the REST namespace the client named."""

    location: Location
    name: str
    rest_namespace: tuple[str, ...]

    def __str__(self) -> str:
        # commit messages name the table within its ref
        return ".".join((*self.location.namespace, self.name))

    @property
    def ident(self) -> str:
        """The identifier as the client wrote it, for error messages."""
        return ".".join((*self.rest_namespace, self.name))

    @property
    def rest_parent(self) -> str:
        return ".".join(self.rest_namespace)


@dataclass(frozen=True)
class TableResult:
    """A loaded table or view; ``metadata_location`` is None for a staged (uncommitted) table."""

    metadata_location: str | None
    metadata: bytes


def ref_hint(session: Session, location: Location) -> str:
    """Why a name is missing when the reason is its ref, for the end of a 404 message."""
    try:
        refs.resolve(session, location.repo, location.ref)
    except (NoSuchNamespace, NoSuchWarehouse):
        return f" (ref {location.ref!r} does not exist in lakeFS repository {location.repo!r})"
    return ""


def missing_table(session: Session, table: TableId) -> CatalogError:
    # a missing namespace is a missing table too: clients fall back on reading `ns.tbl.files`
    # as metadata table `files` of `ns.tbl` only after a NoSuchTableException
    return NoSuchTable(f"Table does not exist: {table.ident}{ref_hint(session, table.location)}")


def missing_namespace(session: Session, table: TableId) -> CatalogError:
    return NoSuchNamespace(
        f"Namespace does not exist: {table.rest_parent}{ref_hint(session, table.location)}"
    )


def dump(model: Any) -> Any:
    """A parsed request part as its JSON document, the form the metadata builders work on."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def run(
    session: Session,
    caller: Caller,
    settings: Settings,
    loc: Location,
    plan: Callable[[RefState], Change[T]],
    what: str,
) -> T:
    """Land ``plan`` on ``loc``'s branch, re-planned after each lost race (server-side retry)."""
    return commits.run(
        session,
        loc.repo,
        loc.ref,
        plan,
        caller=caller,
        attempts=settings.commit_attempts,
        exhausted=lambda: CommitFailed(
            f"{what} on branch {loc.ref!r} kept changing concurrently "
            f"({settings.commit_attempts} attempts); reload and retry"
        ),
    )


class TableService:
    def __init__(self, settings: Settings, files: MetadataFiles) -> None:
        self.settings = settings
        self.files = files

    # --- reads ---------------------------------------------------------------------------

    def pointer(self, session: Session, table: TableId) -> Pointer | None:
        loc = table.location
        return RefState(session, loc.repo, loc.ref).pointer(loc.namespace, table.name)

    def _check_free(self, session: Session, state: RefState, table: TableId) -> None:
        """The checks before a table takes a name: its namespace exists, no view has it."""
        ns = table.location.namespace
        if not state.namespace_exists(ns):
            raise missing_namespace(session, table)
        if state.view_pointer(ns, table.name) is not None:
            raise AlreadyExists(f"View with same name already exists: {table.ident}")

    # --- create and register ---------------------------------------------------------------

    def create(
        self, session: Session, caller: Caller, table: TableId, request: CreateTableRequest
    ) -> TableResult:
        validate_name("table", table.name)
        loc = table.location
        properties = dict(request.properties)
        location = (request.location or "").rstrip("/") or self.files.new_table_location(
            loc.repo, loc.namespace, table.name
        )
        self.files.check_metadata_locations(location, properties)
        metadata = tm.new_table(
            dump(request.table_schema),
            dump(request.partition_spec) if request.partition_spec else None,
            dump(request.write_order) if request.write_order else None,
            location,
            properties,
        )
        if request.stage_create:
            # nothing is written: the create transaction's commit (assert-create) does it all;
            # the checks here only fail early what that commit would refuse
            state = RefState(session, loc.repo, loc.ref)
            self._check_free(session, state, table)
            if state.pointer(loc.namespace, table.name) is not None:
                raise AlreadyExists(f"Table already exists: {table.ident}")
            self.files.make_metadata_directory(location, metadata["properties"])
            return TableResult(None, json.dumps(metadata).encode())

        metadata_location = self.files.new_metadata_location(location, None, metadata["properties"])
        written: list[bytes] = []

        def plan(state: RefState) -> Change[TableResult]:
            self._check_free(session, state, table)
            if state.pointer(loc.namespace, table.name) is not None:
                raise AlreadyExists(f"Table already exists: {table.ident}")
            if not written:
                written.append(self.files.write_json(metadata, metadata_location))
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

        return run(session, caller, self.settings, loc, plan, f"table {table.ident!r}")

    def register(
        self, session: Session, caller: Caller, table: TableId, request: RegisterTableRequest
    ) -> TableResult:
        validate_name("table", table.name)
        loc = table.location
        self.files.check_location(request.metadata_location, "metadata location")
        raw = self.files.read_raw(request.metadata_location)
        # must be table metadata; pyiceberg's models check what our builder takes for granted
        tm.parse(self.files.read_json(request.metadata_location))
        try:
            TableMetadataUtil.parse_raw(raw.decode())
        except Exception as exc:
            raise BadRequest(f"{request.metadata_location!r} is not table metadata: {exc}") from exc

        def plan(state: RefState) -> Change[TableResult]:
            self._check_free(session, state, table)
            existing = state.pointer(loc.namespace, table.name)
            if existing is not None and not request.overwrite:
                raise AlreadyExists(f"Table already exists: {table.ident}")
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

        return run(session, caller, self.settings, loc, plan, f"table {table.ident!r}")

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
                raise BadRequest(f"table {table.ident!r} appears twice in the transaction")
            seen.add(key)

        def plan(state: RefState) -> Change[list[TableResult]]:
            results: list[TableResult] = []
            writes: list[Write] = []
            described: list[tuple[TableId, str, Any]] = []
            for table, request in changes:
                try:
                    result, pointer, snapshot = self._apply(session, state, table, request)
                except CommitFailed as exc:
                    if len(changes) == 1:
                        raise
                    # the client's message must still start with Iceberg's words
                    raise CommitFailed(f"{exc.message} (table {table.ident})") from exc
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

        what = f"table {changes[0][0].ident!r}" if len(changes) == 1 else "the tables"
        return run(session, caller, self.settings, first, plan, what)

    def _apply(
        self, session: Session, state: RefState, table: TableId, request: CommitTableRequest
    ) -> tuple[TableResult, Pointer | None, Any]:
        """Validate and apply one table's change; the new pointer is None when nothing changed."""
        ns = table.location.namespace
        requirements = [dump(r) for r in request.requirements]
        updates = [dump(u) for u in request.updates]
        current = state.pointer(ns, table.name)
        creating = any(r["type"] == "assert-create" for r in requirements)
        if current is None and not creating:
            raise missing_table(session, table)
        if current is None:
            self._check_free(session, state, table)
        base = (
            tm.parse(self.files.read_json(current.metadata_location))
            if current is not None
            else None
        )
        tm.check_requirements(base, requirements)
        if current is not None:
            builder = tm.TableBuilder(base, current.metadata_location)
        else:
            builder = tm.TableBuilder.for_create(updates)
        builder.apply(updates)
        updated = builder.build()
        if updated is None:
            if current is None:
                raise BadRequest(f"creating table {table.ident!r} needs updates that define it")
            location = current.metadata_location
            return TableResult(location, self.files.read_raw(location)), None, None
        if base is None or placement(base) != placement(updated):
            self.files.check_metadata_locations(updated["location"], updated["properties"])
        previous = current.metadata_location if current is not None else None
        location = self.files.new_metadata_location(
            updated["location"], previous, updated["properties"]
        )
        raw = self.files.write_json(updated, location)
        snapshot = next(
            (u["snapshot"] for u in reversed(updates) if u["action"] == "add-snapshot"), None
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
                raise missing_namespace(session, target)
            if state.view_pointer(dst.namespace, target.name) is not None:
                raise AlreadyExists(
                    f"Cannot rename {source.ident} to {target.ident}. View already exists"
                )
            if state.pointer(dst.namespace, target.name) is not None:
                raise AlreadyExists(f"Table already exists: {target.ident}")
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

        run(session, caller, self.settings, src, plan, f"table {source.ident!r}")

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
        run(session, caller, self.settings, loc, plan, f"table {table.ident!r}")


def placement(metadata: tm.Json) -> tuple[Any, Any]:
    """Where a table's files go; checked against the allowed locations only when it changes, so
    a table keeps working if its location is later dropped from the allowed list."""
    return metadata["location"], metadata["properties"].get(METADATA_PATH_PROPERTY)


def _message(described: list[tuple[TableId, str, Any]]) -> str:
    parts = []
    for table, _, snapshot in described:
        if snapshot is None:
            parts.append(f"{table} (metadata)")
        else:
            op = snapshot.get("summary", {}).get("operation", "?")
            parts.append(f"{table} ({op}, snapshot {snapshot['snapshot-id']})")
    return "catalog: commit " + ", ".join(parts)


def _describe(action: str, described: list[tuple[TableId, str, Any]]) -> dict[str, str]:
    """lakeFS commit metadata naming tables, snapshots and operations, for humans and tools."""
    entries = []
    for table, metadata_location, snapshot in described:
        entry: dict[str, object] = {
            "table": [*table.location.namespace, table.name],
            "metadata-location": metadata_location,
        }
        if snapshot is not None:
            entry["snapshot-id"] = snapshot["snapshot-id"]
            if "operation" in snapshot.get("summary", {}):
                entry["operation"] = snapshot["summary"]["operation"]
        entries.append(entry)
    return {
        "vxp.catalog.action": action,
        "vxp.catalog.tables": ", ".join(str(table) for table, _, _ in described),
        "vxp.catalog.changes": json.dumps(entries, sort_keys=True),
    }
