"""What tables and views share: identifiers, results, their one name space, and pointer plumbing.

A table or a view is a pointer object in the lakeFS ref (see :mod:`catalog.state`) naming its
current metadata file; every change to one is one lakeFS commit through :mod:`catalog.commits`.
Tables and views share one name space: a name one kind holds cannot be taken by the other.
Error messages are Iceberg's own (``Table does not exist: ns.t``), which clients match on.

:class:`EntryService` holds the operations whose logic does not depend on the kind (name checks,
rename, the pointer writes of drop); :mod:`catalog.tables` and :mod:`catalog.views` add the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from vxp.catalog import commits, reads, refs
from vxp.catalog.auth import Caller
from vxp.catalog.commits import Change, Write
from vxp.catalog.errors import (
    AlreadyExists,
    BadRequest,
    CatalogError,
    CommitFailed,
    NoSuchNamespace,
    NoSuchTable,
    NoSuchView,
    NoSuchWarehouse,
)
from vxp.catalog.metadata import METADATA_PATH_PROPERTY, MetadataFiles
from vxp.catalog.refs import Location
from vxp.catalog.settings import Settings
from vxp.catalog.state import RefState, validate_name
from vxp.catalog.table_metadata import Json
from vxp.core.layout import Namespace, Pointer, table_pointer, view_pointer
from vxp.lakefs import Session

T = TypeVar("T")


@dataclass(frozen=True)
class TableId:
    """A table or view: where it lives in lakeFS, and the REST namespace the client named.

    Attributes:
        location: its repository, ref and namespace within the ref.
        name: the table's or view's name.
        rest_namespace: the namespace as the client sent it (the ref first in a
            repository-scoped warehouse).
    """

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
        """The client's namespace, dotted, for error messages."""
        return ".".join(self.rest_namespace)


@dataclass(frozen=True)
class TableResult:
    """A loaded table or view (the REST spec's ``LoadTableResult`` and ``LoadViewResult`` parts).

    Attributes:
        metadata_location: the current metadata file; None for a staged (uncommitted) table.
        metadata: the metadata JSON, as bytes.
    """

    metadata_location: str | None
    metadata: bytes


def ref_hint(session: Session, location: Location) -> str:
    """Why a name is missing when the reason is its ref, for the end of a 404 message; else ``""``.

    Raises:
        LakeFSNotFound: the repository does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    try:
        refs.resolve(session, location.repo, location.ref)
    except (NoSuchNamespace, NoSuchWarehouse):
        return f" (ref {location.ref!r} does not exist in lakeFS repository {location.repo!r})"
    return ""


def missing_namespace(session: Session, entry: TableId) -> CatalogError:
    """The ``NoSuchNamespace`` error for ``entry``'s namespace (not raised here).

    Raises:
        LakeFSNotFound: the repository does not exist (found while wording the message).
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    return NoSuchNamespace(
        f"Namespace does not exist: {entry.rest_parent}{ref_hint(session, entry.location)}"
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
    """Land ``plan`` on ``loc``'s branch, re-planned after each lost race (server-side retry).

    Raises:
        CatalogError: whatever ``plan`` raises.
        NoSuchNamespace: the ref does not exist.
        CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
            uncommitted changes.
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        ReadOnlyRef: the ref is a tag or a commit ID.
        LakeFSNotFound: the repository does not exist.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
            :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
    """
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


def placement(metadata: Json) -> tuple[Any, Any]:
    """Where a table's or view's files go: its ``location`` and ``write.metadata.path``.

    Checked against the allowed locations only when it changes, so an entry keeps working if
    its location is later dropped from the allowed list.
    """
    return metadata["location"], metadata["properties"].get(METADATA_PATH_PROPERTY)


@dataclass(frozen=True)
class Kind:
    """Tables or views: where their pointers are, and the words for them in messages."""

    noun: str
    path: Callable[[Namespace, str], str]
    read: Callable[[RefState, Namespace, str], Pointer | None]
    names: Callable[[RefState, Namespace, str], Iterator[str]]
    not_found: type[CatalogError]

    @property
    def title(self) -> str:
        """The noun capitalised, as Iceberg's messages start (``Table``, ``View``)."""
        return self.noun.capitalize()

    @property
    def other(self) -> Kind:
        """The kind that shares this kind's name space."""
        return VIEW if self is TABLE else TABLE

    def missing(self, session: Session, entry: TableId) -> CatalogError:
        """The not-found error for ``entry`` (not raised here): Iceberg's message, plus why the ref
        is missing when it is.

        Raises:
            LakeFSNotFound: the repository does not exist (found while wording the message).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        # a missing namespace is a missing table too: clients fall back on reading `ns.tbl.files`
        # as metadata table `files` of `ns.tbl` only after a NoSuchTableException
        hint = ref_hint(session, entry.location)
        return self.not_found(f"{self.title} does not exist: {entry.ident}{hint}")

    def write(self, entry: TableId, pointer: Pointer | None) -> Write:
        """The write that sets ``entry``'s pointer, or deletes it (``pointer`` None)."""
        return Write(
            self.path(entry.location.namespace, entry.name),
            None if pointer is None else pointer.to_bytes(),
        )


TABLE = Kind("table", table_pointer, RefState.pointer, RefState.tables, NoSuchTable)
VIEW = Kind("view", view_pointer, RefState.view_pointer, RefState.views, NoSuchView)


def _rename_clash(kind: Kind, holder: Kind, source: TableId, target: TableId) -> str:
    """Iceberg's message for renaming a ``kind`` onto a name a ``holder`` has."""
    if kind is holder is TABLE:
        return f"Table already exists: {target.ident}"
    return f"Cannot rename {source.ident} to {target.ident}. {holder.title} already exists"


class EntryService:
    """The operations of one kind of entry that tables and views share; subclasses set ``kind``."""

    kind: ClassVar[Kind]

    def __init__(self, settings: Settings, files: MetadataFiles) -> None:
        self.settings = settings
        self.files = files

    # --- reads ---------------------------------------------------------------------------

    def pointer(self, session: Session, entry: TableId) -> Pointer | None:
        """``entry``'s pointer at its ref as it is now, or None when there is no such entry.

        Raises:
            ValueError, KeyError, TypeError: the pointer object is malformed.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        loc = entry.location
        # the ref's head commit (one cheap call), then the pointer from the commit cache
        commit = reads.SHARED.head(session, loc.repo, loc.ref)
        if commit is None:
            return None
        state = RefState(reads.CommitSession(session, commit), loc.repo, commit)
        return self.kind.read(state, loc.namespace, entry.name)

    def existing(self, session: Session, entry: TableId) -> Pointer:
        """``entry``'s pointer; the kind's not-found error when there is none.

        Raises:
            NoSuchTable: (tables) no such table, or no such namespace or ref.
            NoSuchView: (views) no such view, or no such namespace or ref.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        pointer = self.pointer(session, entry)
        if pointer is None:
            raise self.kind.missing(session, entry)
        return pointer

    # --- taking a name -------------------------------------------------------------------

    def _check_free(self, session: Session, state: RefState, entry: TableId) -> None:
        """The checks before an entry takes a name: its namespace exists, the other kind of
        entry does not have the name."""
        ns = entry.location.namespace
        if not state.namespace_exists(ns):
            raise missing_namespace(session, entry)
        other = self.kind.other
        if other.read(state, ns, entry.name) is not None:
            raise AlreadyExists(f"{other.title} with same name already exists: {entry.ident}")

    def _check_new(self, session: Session, state: RefState, entry: TableId) -> None:
        """:meth:`_check_free`, and no entry of this kind has the name either."""
        self._check_free(session, state, entry)
        if self.kind.read(state, entry.location.namespace, entry.name) is not None:
            raise AlreadyExists(f"{self.kind.title} already exists: {entry.ident}")

    def _new_location(
        self, entry: TableId, requested: str | None, properties: dict[str, str]
    ) -> str:
        """Where a new entry's files go: where the client asked (if allowed), else a fresh place."""
        loc = entry.location
        location = (requested or "").rstrip("/") or self.files.new_table_location(
            loc.repo, loc.namespace, entry.name
        )
        self.files.check_metadata_locations(location, properties)
        return location

    def _create(
        self,
        session: Session,
        caller: Caller,
        entry: TableId,
        metadata: Json,
        metadata_location: str,
        described: dict[str, str],
    ) -> TableResult:
        """Write a new entry's first metadata file and point the entry at it, in a commit with
        metadata ``described``. The file is written once, by the first plan that passes the
        name checks; plans re-run after a lost race point at the same file."""
        written: list[bytes] = []

        def plan(state: RefState) -> Change[TableResult]:
            self._check_new(session, state, entry)
            if not written:
                written.append(self.files.write_json(metadata, metadata_location))
            return Change(
                result=TableResult(metadata_location, written[0]),
                writes=[self.kind.write(entry, Pointer(metadata_location))],
                message=f"catalog: create {self.kind.noun} {entry}",
                metadata=described,
            )

        return self._run(session, caller, entry, plan)

    def _run(
        self,
        session: Session,
        caller: Caller,
        entry: TableId,
        plan: Callable[[RefState], Change[T]],
    ) -> T:
        """Land ``plan``, a change of ``entry``, on its branch."""
        what = f"{self.kind.noun} {entry.ident!r}"
        return run(session, caller, self.settings, entry.location, plan, what)

    # --- rename and drop -----------------------------------------------------------------

    def rename(self, session: Session, caller: Caller, source: TableId, target: TableId) -> None:
        """Move ``source``'s pointer to ``target`` in one commit (Iceberg REST spec, ``renameTable``
        and ``renameView``); the metadata files stay where they are.

        Raises:
            BadRequest: ``source`` and ``target`` are on different refs, or ``target``'s name
                breaks a name rule.
            NoSuchTable, NoSuchView: ``source`` does not exist.
            NoSuchNamespace: ``target``'s namespace does not exist.
            AlreadyExists: a table or view has ``target``'s name.
            CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
                uncommitted changes.
            CommitStateUnknown: lakeFS's answer to the merge was lost.
            ReadOnlyRef: the ref is a tag or a commit ID.
            LakeFSNotFound: the repository does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers). A pre-merge hook's refusal is a
                :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons.
        """
        kind = self.kind
        src, dst = source.location, target.location
        if (src.repo, src.ref) != (dst.repo, dst.ref):
            raise BadRequest(
                f"cannot rename across refs ({src.ref!r} to {dst.ref!r}); merge branches instead"
            )
        validate_name(kind.noun, target.name)

        def plan(state: RefState) -> Change[None]:
            pointer = kind.read(state, src.namespace, source.name)
            if pointer is None:
                raise kind.missing(session, source)
            if not state.namespace_exists(dst.namespace):
                raise missing_namespace(session, target)
            for holder in (kind.other, kind):
                if holder.read(state, dst.namespace, target.name) is not None:
                    raise AlreadyExists(_rename_clash(kind, holder, source, target))
            return Change(
                result=None,
                writes=[kind.write(source, None), kind.write(target, pointer)],
                message=f"catalog: rename {kind.noun} {source} to {target}",
                metadata={
                    "vxp.catalog.action": f"rename-{kind.noun}",
                    f"vxp.catalog.{kind.noun}s": f"{source}, {target}",
                },
            )

        self._run(session, caller, source, plan)

    def _drop(
        self,
        session: Session,
        caller: Caller,
        entry: TableId,
        metadata: Callable[[Pointer], dict[str, str]],
        note: str = "",
    ) -> None:
        """Delete ``entry``'s pointer in a commit whose metadata ``metadata`` gives from it.

        Only the pointer goes: the entry's files may still be read by other branches, tags and
        commits; `vxp gc` deletes what no retained commit references.
        """
        kind = self.kind
        loc = entry.location

        def plan(state: RefState) -> Change[None]:
            pointer = kind.read(state, loc.namespace, entry.name)
            if pointer is None:
                raise kind.missing(session, entry)
            return Change(
                result=None,
                writes=[kind.write(entry, None)],
                message=f"catalog: drop {kind.noun} {entry}{note}",
                metadata=metadata(pointer),
            )

        self._run(session, caller, entry, plan)
