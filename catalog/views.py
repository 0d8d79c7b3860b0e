"""View operations: load, create, commit (replace and property/location changes), register,
rename, drop.

Views are stored like tables: a pointer object per view in the lakeFS ref
(``_vxp/catalog/views/...``, see :mod:`catalog.state`) naming the current metadata file, which
lives in the warehouse; every change is one lakeFS commit through :mod:`catalog.commits` whose
metadata names the view and its version. Metadata changes follow Iceberg's Java semantics
(:mod:`catalog.view_metadata`). Tables and views share one name space; what is the same for both
kinds (name checks, rename, reading a pointer) lives in :mod:`catalog.entries`.
"""

from __future__ import annotations

import json

from pyiceberg.view.metadata import ViewMetadata

from vxp.catalog import view_metadata as vm
from vxp.catalog.auth import Caller
from vxp.catalog.commits import Change
from vxp.catalog.entries import VIEW, EntryService, TableId, TableResult, dump, placement
from vxp.catalog.errors import BadRequest, summarize
from vxp.catalog.models import CommitViewRequest, CreateViewRequest, RegisterViewRequest
from vxp.catalog.state import RefState, validate_name
from vxp.catalog.table_metadata import Json
from vxp.core.layout import Pointer
from vxp.lakefs import Session

ViewId = TableId


class ViewService(EntryService):
    """View operations; the checks and pointer writes they share with tables are inherited."""

    kind = VIEW

    def load(self, session: Session, view: ViewId) -> TableResult:
        """The view's current metadata (Iceberg REST spec, ``loadView``).

        Raises:
            NoSuchView: no such view (or namespace, or ref).
            NotFound: its metadata file no longer exists.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        location = self.existing(session, view).metadata_location
        return TableResult(location, self.files.read_raw(location, check_exists=True))

    # --- create and register -------------------------------------------------------------

    def create(
        self, session: Session, caller: Caller, view: ViewId, request: CreateViewRequest
    ) -> TableResult:
        """Create a view: its first metadata file and pointer (Iceberg REST spec, ``createView``).

        Raises:
            BadRequest: the name breaks a name rule, or the location is not allowed.
            InvalidArgument: Iceberg's rules reject the version (two queries for one dialect).
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
        validate_name("view", view.name)
        location = self._new_location(view, request.location, request.properties)
        metadata = vm.new_view(
            dump(request.view_schema), dump(request.view_version), location, request.properties
        )
        metadata_location = self.files.new_metadata_location(location, None, request.properties)
        described = _describe("create-view", view, metadata_location, metadata)
        return self._create(session, caller, view, metadata, metadata_location, described)

    def register(
        self, session: Session, caller: Caller, view: ViewId, request: RegisterViewRequest
    ) -> TableResult:
        """Point a new view at an existing metadata file (Iceberg REST spec, ``registerView``).

        Raises:
            BadRequest: the name breaks a name rule, the file is outside the allowed locations, or
                it is not view metadata.
            NotFound: there is no file at the metadata location.
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
        validate_name("view", view.name)
        self.files.check_location(request.metadata_location, "metadata location")
        raw = self.files.read_raw(request.metadata_location)
        metadata = vm.parse(self.files.read_json(request.metadata_location))
        try:
            # pyiceberg's model checks the parts (versions, schemas) the builder relies on
            ViewMetadata.model_validate_json(raw)
        except ValueError as exc:
            raise BadRequest(
                f"{request.metadata_location!r} is not view metadata: {summarize(exc)}"
            ) from exc

        def plan(state: RefState) -> Change[TableResult]:
            self._check_new(session, state, view)
            return Change(
                result=TableResult(request.metadata_location, raw),
                writes=[VIEW.write(view, Pointer(request.metadata_location))],
                message=f"catalog: register view {view}",
                metadata=_describe("register-view", view, request.metadata_location, metadata),
            )

        return self._run(session, caller, view, plan)

    # --- commits -------------------------------------------------------------------------

    def commit(
        self, session: Session, caller: Caller, view: ViewId, request: CommitViewRequest
    ) -> TableResult:
        """Replace a view's version or change its properties or location, requirements first
        (Iceberg REST spec, ``replaceView``; Java's ``ViewMetadata.Builder`` semantics).

        Raises:
            NoSuchView: no such view (or namespace, or ref).
            BadRequest: a requirement other than ``assert-view-uuid``, an update views do not take,
                a dropped SQL dialect, or a location that is not allowed.
            InvalidArgument: an update breaks one of Iceberg's rules.
            CommitFailed: ``assert-view-uuid`` failed.
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
        loc = view.location
        requirements = [dump(r) for r in request.requirements]
        updates = [dump(u) for u in request.updates]

        def plan(state: RefState) -> Change[TableResult]:
            current = state.view_pointer(loc.namespace, view.name)
            if current is None:
                raise VIEW.missing(session, view)
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
                writes=[VIEW.write(view, Pointer(metadata_location, current.metadata_location))],
                message=f"catalog: commit view {view} (version {updated['current-version-id']})",
                metadata=_describe("commit-view", view, metadata_location, updated),
            )

        return self._run(session, caller, view, plan)

    # --- drop ----------------------------------------------------------------------------

    def drop(self, session: Session, caller: Caller, view: ViewId) -> None:
        """Drop a view's pointer in one commit (Iceberg REST spec, ``dropView``); its files stay.

        Raises:
            NoSuchView: no such view (or namespace, or ref).
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
        names = [*view.location.namespace, view.name]
        self._drop(
            session,
            caller,
            view,
            lambda _: {
                "vxp.catalog.action": "drop-view",
                "vxp.catalog.views": str(view),
                "vxp.catalog.changes": json.dumps([{"view": names}], sort_keys=True),
            },
        )


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
