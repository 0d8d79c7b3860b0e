"""Table operations: create (also staged), commit (one table or a transaction), register, drop.

Metadata changes follow Iceberg's Java semantics (:mod:`catalog.table_metadata`); this module
decides what to read at which ref, which files and pointers to write, and how the resulting lakeFS
commit is described. Error messages are Iceberg's own (``Table does not exist: ns.t``), which
clients match on.

Tables and views share one name space: creating, registering or renaming a table onto a view's
name fails, and the other way round. Those checks, rename and reading a pointer are the same for
both kinds and live in :mod:`catalog.entries`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from pyiceberg.table.metadata import TableMetadataUtil

from vxp.catalog import table_metadata as tm
from vxp.catalog.auth import Caller
from vxp.catalog.commits import Change, Write
from vxp.catalog.entries import TABLE, EntryService, TableId, TableResult, dump, run
from vxp.catalog.errors import AlreadyExists, BadRequest, CommitFailed, summarize
from vxp.catalog.models import CommitTableRequest, CreateTableRequest, RegisterTableRequest
from vxp.catalog.state import RefState, validate_name
from vxp.core.layout import Pointer
from vxp.lakefs import Session


class TableService(EntryService):
    """Table operations; the checks and pointer writes they share with views are inherited."""

    kind = TABLE

    # --- create and register ---------------------------------------------------------------

    def create(
        self, session: Session, caller: Caller, table: TableId, request: CreateTableRequest
    ) -> TableResult:
        """Create a table, or stage its creation (Iceberg REST spec, ``createTable``).

        A staged create writes nothing: the client's create transaction commits it later with an
        ``assert-create`` requirement. Otherwise the first metadata file is written and the pointer
        committed. New metadata follows Java's ``TableMetadata.newTableMetadata``.

        Raises:
            BadRequest: the name breaks a name rule, the location is not allowed, or a partition or
                sort field names an unknown column.
            InvalidArgument: Iceberg's rules reject the schema, spec, order or format version.
            NoSuchNamespace: the namespace (or ref) does not exist.
            AlreadyExists: a table or view of that name exists.
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
        validate_name("table", table.name)
        loc = table.location
        properties = dict(request.properties)
        location = self._new_location(table, request.location, properties)
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
            self._check_new(session, RefState(session, loc.repo, loc.ref), table)
            self.files.make_metadata_directory(location, metadata["properties"])
            return TableResult(None, json.dumps(metadata).encode())

        metadata_location = self.files.new_metadata_location(location, None, metadata["properties"])
        described = _describe("create-table", [(table, metadata_location, None)])
        return self._create(session, caller, table, metadata, metadata_location, described)

    def register(
        self, session: Session, caller: Caller, table: TableId, request: RegisterTableRequest
    ) -> TableResult:
        """Point a new table (or, with ``overwrite``, an existing one) at an existing metadata file
        (Iceberg REST spec, ``registerTable``).

        Raises:
            BadRequest: the name breaks a name rule, the file is outside the allowed locations, or
                it is not table metadata.
            NotFound: there is no file at the metadata location.
            NoSuchNamespace: the namespace (or ref) does not exist.
            AlreadyExists: a view has the name, or a table has it and ``overwrite`` is not set.
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
        validate_name("table", table.name)
        loc = table.location
        self.files.check_location(request.metadata_location, "metadata location")
        raw = self.files.read_raw(request.metadata_location)
        # must be table metadata; pyiceberg's models check what our builder takes for granted
        tm.parse(self.files.read_json(request.metadata_location))
        try:
            TableMetadataUtil.parse_raw(raw.decode())
        except Exception as exc:
            raise BadRequest(
                f"{request.metadata_location!r} is not table metadata: {summarize(exc)}"
            ) from exc

        def plan(state: RefState) -> Change[TableResult]:
            self._check_free(session, state, table)
            existing = state.pointer(loc.namespace, table.name)
            if existing is not None and not request.overwrite:
                raise AlreadyExists(f"Table already exists: {table.ident}")
            previous = existing.metadata_location if existing else None
            return Change(
                result=TableResult(request.metadata_location, raw),
                writes=[TABLE.write(table, Pointer(request.metadata_location, previous))],
                message=f"catalog: register table {table}",
                metadata=_describe("register-table", [(table, request.metadata_location, None)]),
            )

        return self._run(session, caller, table, plan)

    # --- commits -------------------------------------------------------------------------

    def commit(
        self,
        session: Session,
        caller: Caller,
        changes: list[tuple[TableId, CommitTableRequest]],
    ) -> list[TableResult]:
        """Apply one or more tables' changes atomically: all land in one lakeFS merge, or none.

        Requirements are checked against the branch head as Java's ``UpdateRequirement`` does,
        updates applied as Java's ``TableMetadata.Builder`` does (Iceberg REST spec,
        ``updateTable`` and ``commitTransaction``; DESIGN.md, "Catalog invariants" 3).

        Raises:
            BadRequest: no changes, tables on different branches, a table twice, or an update the
                builder refuses; an ``assert-create`` without updates that define the table.
            InvalidArgument: an update breaks one of Iceberg's rules.
            CommitFailed: a requirement failed (the message names the table in a transaction).
            NoSuchTable: a table does not exist (and is not being created).
            NoSuchNamespace: a created table's namespace does not exist.
            AlreadyExists: a created table's name is a view's.
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
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
            files: list[Callable[[], None]] = []
            described: list[tuple[TableId, str, Any]] = []
            for table, request in changes:
                try:
                    result, pointer, snapshot, write = self._apply(session, state, table, request)
                except CommitFailed as exc:
                    if len(changes) == 1:
                        raise
                    # the client's message must still start with Iceberg's words
                    raise CommitFailed(f"{exc.message} (table {table.ident})") from exc
                results.append(result)
                if write is not None:
                    files.append(write)
                if pointer is not None:
                    writes.append(TABLE.write(table, pointer))
                    assert result.metadata_location is not None
                    described.append((table, result.metadata_location, snapshot))
            action = "commit-table" if len(changes) == 1 else "commit-transaction"
            return Change(
                result=results,
                writes=writes,
                message=_message(described),
                metadata=_describe(action, described),
                files=files,
            )

        what = f"table {changes[0][0].ident!r}" if len(changes) == 1 else "the tables"
        return run(session, caller, self.settings, first, plan, what)

    def _apply(
        self, session: Session, state: RefState, table: TableId, request: CommitTableRequest
    ) -> tuple[TableResult, Pointer | None, Any, Callable[[], None] | None]:
        """Validate and apply one table's change: its result, new pointer, added snapshot and the
        write of its new metadata file (pointer and write are None when nothing changed; the
        file is written when the change lands, :attr:`Change.files`)."""
        ns = table.location.namespace
        requirements = [dump(r) for r in request.requirements]
        updates = [dump(u) for u in request.updates]
        current = state.pointer(ns, table.name)
        creating = any(r["type"] == "assert-create" for r in requirements)
        if current is None and not creating:
            raise TABLE.missing(session, table)
        if current is None:
            self._check_free(session, state, table)
        base = (
            tm.parse(self.files.read_json(current.metadata_location), fresh=True)
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
            return TableResult(location, self.files.read_raw(location)), None, None, None
        # checked at every commit, not only when they change: the metadata read may come from a
        # planted pointer or a registered file (issue "Catalog security")
        self.files.check_metadata_locations(updated["location"], updated["properties"])
        for update in updates:
            if update["action"] == "add-snapshot":
                # `vxp gc` reads every snapshot's manifest list: one outside the warehouse (or a
                # relative path) would stop it for the whole installation
                self.files.check_location(
                    str(update["snapshot"].get("manifest-list", "")), "manifest list"
                )
        previous = current.metadata_location if current is not None else None
        location = self.files.new_metadata_location(
            updated["location"], previous, updated["properties"]
        )
        raw = self.files.encode(updated)
        snapshot = next(
            (u["snapshot"] for u in reversed(updates) if u["action"] == "add-snapshot"), None
        )
        write = partial(self.files.write_raw, location, raw)
        return TableResult(location, raw), Pointer(location, previous), snapshot, write

    # --- drop ----------------------------------------------------------------------------

    def drop(self, session: Session, caller: Caller, table: TableId, purge: bool) -> None:
        """Drop a table's pointer in one commit (Iceberg REST spec, ``dropTable``).

        ``purge`` is recorded in the commit metadata but deletes nothing: other refs may still
        read the files, and only ``vxp gc`` deletes (DESIGN.md, "Catalog invariants" 4).

        Raises:
            NoSuchTable: no such table (or namespace, or ref).
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
        # purging, too, only drops the pointer (see EntryService._drop)
        self._drop(
            session,
            caller,
            table,
            lambda pointer: (
                _describe("drop-table", [(table, pointer.metadata_location, None)])
                | {"vxp.catalog.purge-requested": str(purge).lower()}
            ),
            note=" (purge requested)" if purge else "",
        )


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
