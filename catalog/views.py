"""View operations: load, create, commit (replace and property/location changes), register,
rename, drop.

Views are stored like tables: a pointer object per view in the lakeFS ref
(``_vxp/catalog/views/...``, see :mod:`catalog.state`) naming the current metadata file, which
lives in the warehouse; every change is one lakeFS commit through :mod:`catalog.commits` whose
metadata names the view and its version. Metadata changes follow Iceberg's Java semantics
(:mod:`catalog.view_metadata`). Tables and views share one name space.
"""

from __future__ import annotations

import json

from pyiceberg.view.metadata import ViewMetadata

from catalog import view_metadata as vm
from catalog.auth import Caller
from catalog.commits import Change, Write
from catalog.errors import AlreadyExists, BadRequest, CatalogError, NoSuchView
from catalog.lakefs_api import Session
from catalog.metadata import MetadataFiles
from catalog.models import CommitViewRequest, CreateViewRequest, RegisterViewRequest
from catalog.settings import Settings
from catalog.state import Pointer, RefState, validate_name, view_pointer
from catalog.table_metadata import Json
from catalog.tables import (
    TableId,
    TableResult,
    dump,
    missing_namespace,
    placement,
    ref_hint,
    run,
)

ViewId = TableId


def missing_view(session: Session, view: ViewId) -> CatalogError:
    return NoSuchView(f"View does not exist: {view.ident}{ref_hint(session, view.location)}")


class ViewService:
    def __init__(self, settings: Settings, files: MetadataFiles) -> None:
        self.settings = settings
        self.files = files

    # --- reads ---------------------------------------------------------------------------

    def pointer(self, session: Session, view: ViewId) -> Pointer | None:
        loc = view.location
        return RefState(session, loc.repo, loc.ref).view_pointer(loc.namespace, view.name)

    def load(self, session: Session, view: ViewId) -> TableResult:
        pointer = self.pointer(session, view)
        if pointer is None:
            raise missing_view(session, view)
        location = pointer.metadata_location
        return TableResult(location, self.files.read_raw(location, check_exists=True))

    def _check_free(self, session: Session, state: RefState, view: ViewId) -> None:
        """A view takes a name only in an existing namespace, and when no table or view has it."""
        ns = view.location.namespace
        if not state.namespace_exists(ns):
            raise missing_namespace(session, view)
        if state.pointer(ns, view.name) is not None:
            raise AlreadyExists(f"Table with same name already exists: {view.ident}")
        if state.view_pointer(ns, view.name) is not None:
            raise AlreadyExists(f"View already exists: {view.ident}")

    # --- create and register -------------------------------------------------------------

    def create(
        self, session: Session, caller: Caller, view: ViewId, request: CreateViewRequest
    ) -> TableResult:
        validate_name("view", view.name)
        loc = view.location
        location = (request.location or "").rstrip("/") or self.files.new_table_location(
            loc.repo, loc.namespace, view.name
        )
        self.files.check_metadata_locations(location, request.properties)
        metadata = vm.new_view(
            dump(request.view_schema), dump(request.view_version), location, request.properties
        )
        metadata_location = self.files.new_metadata_location(location, None, request.properties)
        written: list[bytes] = []

        def plan(state: RefState) -> Change[TableResult]:
            self._check_free(session, state, view)
            if not written:
                written.append(self.files.write_json(metadata, metadata_location))
            return Change(
                result=TableResult(metadata_location, written[0]),
                writes=[
                    Write(
                        view_pointer(loc.namespace, view.name),
                        Pointer(metadata_location).to_bytes(),
                    )
                ],
                message=f"catalog: create view {view}",
                metadata=_describe("create-view", view, metadata_location, metadata),
            )

        return run(session, caller, self.settings, loc, plan, f"view {view.ident!r}")

    def register(
        self, session: Session, caller: Caller, view: ViewId, request: RegisterViewRequest
    ) -> TableResult:
        validate_name("view", view.name)
        loc = view.location
        self.files.check_location(request.metadata_location, "metadata location")
        raw = self.files.read_raw(request.metadata_location)
        metadata = vm.parse(self.files.read_json(request.metadata_location))
        try:
            # pyiceberg's model checks the parts (versions, schemas) the builder relies on
            ViewMetadata.model_validate_json(raw)
        except ValueError as exc:
            raise BadRequest(f"{request.metadata_location!r} is not view metadata: {exc}") from exc

        def plan(state: RefState) -> Change[TableResult]:
            self._check_free(session, state, view)
            return Change(
                result=TableResult(request.metadata_location, raw),
                writes=[
                    Write(
                        view_pointer(loc.namespace, view.name),
                        Pointer(request.metadata_location).to_bytes(),
                    )
                ],
                message=f"catalog: register view {view}",
                metadata=_describe("register-view", view, request.metadata_location, metadata),
            )

        return run(session, caller, self.settings, loc, plan, f"view {view.ident!r}")

    # --- commits -------------------------------------------------------------------------

    def commit(
        self, session: Session, caller: Caller, view: ViewId, request: CommitViewRequest
    ) -> TableResult:
        """Replace a view's version or change its properties or location, requirements first."""
        loc = view.location
        requirements = [dump(r) for r in request.requirements]
        updates = [dump(u) for u in request.updates]

        def plan(state: RefState) -> Change[TableResult]:
            current = state.view_pointer(loc.namespace, view.name)
            if current is None:
                raise missing_view(session, view)
            base = vm.parse(self.files.read_json(current.metadata_location))
            vm.check_requirements(base, requirements)
            builder = vm.ViewBuilder(base)
            builder.apply(updates)
            updated = builder.build()
            if updated is None:
                location = current.metadata_location
                return Change(result=TableResult(location, self.files.read_raw(location)))
            if placement(base) != placement(updated):
                self.files.check_metadata_locations(updated["location"], updated["properties"])
            metadata_location = self.files.new_metadata_location(
                updated["location"], current.metadata_location, updated["properties"]
            )
            raw = self.files.write_json(updated, metadata_location)
            return Change(
                result=TableResult(metadata_location, raw),
                writes=[
                    Write(
                        view_pointer(loc.namespace, view.name),
                        Pointer(metadata_location, current.metadata_location).to_bytes(),
                    )
                ],
                message=f"catalog: commit view {view} (version {updated['current-version-id']})",
                metadata=_describe("commit-view", view, metadata_location, updated),
            )

        return run(session, caller, self.settings, loc, plan, f"view {view.ident!r}")

    # --- rename and drop -----------------------------------------------------------------

    def rename(self, session: Session, caller: Caller, source: ViewId, target: ViewId) -> None:
        src, dst = source.location, target.location
        if (src.repo, src.ref) != (dst.repo, dst.ref):
            raise BadRequest(
                f"cannot rename across refs ({src.ref!r} to {dst.ref!r}); merge branches instead"
            )
        validate_name("view", target.name)

        def plan(state: RefState) -> Change[None]:
            pointer = state.view_pointer(src.namespace, source.name)
            if pointer is None:
                raise missing_view(session, source)
            if not state.namespace_exists(dst.namespace):
                raise missing_namespace(session, target)
            for kind, existing in (
                ("Table", state.pointer(dst.namespace, target.name)),
                ("View", state.view_pointer(dst.namespace, target.name)),
            ):
                if existing is not None:
                    raise AlreadyExists(
                        f"Cannot rename {source.ident} to {target.ident}. {kind} already exists"
                    )
            return Change(
                result=None,
                writes=[
                    Write(view_pointer(src.namespace, source.name), None),
                    Write(view_pointer(dst.namespace, target.name), pointer.to_bytes()),
                ],
                message=f"catalog: rename view {source} to {target}",
                metadata={
                    "vxp.catalog.action": "rename-view",
                    "vxp.catalog.views": f"{source}, {target}",
                },
            )

        run(session, caller, self.settings, src, plan, f"view {source.ident!r}")

    def drop(self, session: Session, caller: Caller, view: ViewId) -> None:
        loc = view.location

        def plan(state: RefState) -> Change[None]:
            pointer = state.view_pointer(loc.namespace, view.name)
            if pointer is None:
                raise missing_view(session, view)
            return Change(
                result=None,
                writes=[Write(view_pointer(loc.namespace, view.name), None)],
                message=f"catalog: drop view {view}",
                metadata={
                    "vxp.catalog.action": "drop-view",
                    "vxp.catalog.views": str(view),
                    "vxp.catalog.changes": json.dumps(
                        [{"view": [*loc.namespace, view.name]}], sort_keys=True
                    ),
                },
            )

        # like a dropped table's, the view's metadata files stay: other commits may name them
        run(session, caller, self.settings, loc, plan, f"view {view.ident!r}")


def _describe(action: str, view: ViewId, metadata_location: str, metadata: Json) -> dict[str, str]:
    """lakeFS commit metadata naming the view and the version it now shows."""
    entry = {
        "view": [*view.location.namespace, view.name],
        "metadata-location": metadata_location,
        "version-id": metadata["current-version-id"],
    }
    return {
        "vxp.catalog.action": action,
        "vxp.catalog.views": str(view),
        "vxp.catalog.changes": json.dumps([entry], sort_keys=True),
    }
