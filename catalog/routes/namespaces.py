"""Namespace routes. In a repository-scoped warehouse the first level is a lakeFS ref: it exists
when the ref does, and refs are created and deleted with lakeFS (``vxp branch``), not here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Response

from vxp.catalog import commits, refs
from vxp.catalog.commits import Change, Write
from vxp.catalog.context import Ctx, ctx, namespace_param
from vxp.catalog.errors import (
    AlreadyExists,
    BadRequest,
    CommitFailed,
    NamespaceNotEmpty,
    NoSuchNamespace,
    UnprocessableEntity,
    UnsupportedOperation,
)
from vxp.catalog.models import CreateNamespaceRequest, UpdateNamespacePropertiesRequest
from vxp.catalog.refs import Location
from vxp.catalog.routes.paging import PageSize, PageToken, after, page
from vxp.catalog.state import RefState
from vxp.core.layout import decode_level, namespace_document, namespace_marker

router = APIRouter()
T = TypeVar("T")
C = Annotated[Ctx, Depends(ctx)]


def _dotted(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def _ref_properties(c: Ctx, ref: str) -> dict[str, str]:
    resolved = refs.resolve(c.session, c.warehouse.repo, ref)
    return {"lakefs.ref-type": resolved.kind.value, "lakefs.commit-id": resolved.commit_id}


def _properties(c: Ctx, namespace: tuple[str, ...]) -> dict[str, str]:
    loc = c.locate(namespace)
    if not loc.namespace:
        return _ref_properties(c, loc.ref)
    props = RefState(c.session, loc.repo, loc.ref).namespace_properties(loc.namespace)
    if props is None:
        refs.resolve(c.session, loc.repo, loc.ref)  # a missing ref gets its own message
        raise NoSuchNamespace(f"Namespace does not exist: {_dotted(namespace)}")
    # Trino places new tables under the namespace's `location`; without one it creates the table
    # for real before writing it, then refuses the now non-empty location (and leaves the table).
    return {"location": c.rt.files.namespace_location(loc.repo, loc.namespace)} | props


def _write(c: Ctx, loc: Location, plan: Callable[[RefState], Change[T]], what: str) -> T:
    return commits.run(
        c.session,
        loc.repo,
        loc.ref,
        plan,
        caller=c.caller,
        attempts=c.rt.settings.commit_attempts,
        exhausted=lambda: CommitFailed(f"{what} kept changing concurrently; retry"),
    )


@router.get("/v1/{prefix}/namespaces")
def list_namespaces(
    c: C,
    parent: str | None = None,
    page_token: PageToken = None,
    page_size: PageSize = None,
) -> dict[str, object]:
    """``listNamespaces`` (Iceberg REST spec): the namespaces right below ``parent``.

    In a repository-scoped warehouse the top level is every branch and tag of the repository.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchWarehouse: the repository does not exist (top level).
        NoSuchNamespace: ``parent`` or its ref does not exist.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    parent_ns = namespace_param(parent) if parent else ()
    if not parent_ns and c.warehouse.ref is None:
        # listing a missing repository's refs is a bare lakeFS 404; name the missing warehouse
        refs.check_warehouse(c.session, c.warehouse)
        names = sorted(
            {*c.session.list_branches(c.warehouse.repo), *c.session.list_tags(c.warehouse.repo)}
        )
        items, token = page(after(names, page_token), page_token, page_size)
        return {"namespaces": [[name] for name in items], "next-page-token": token}
    loc, state = c.listing(parent_ns)
    encoded, token = page(
        state.child_namespaces(loc.namespace, page_token or ""), page_token, page_size
    )
    return {
        "namespaces": [[*parent_ns, decode_level(name)] for name in encoded],
        "next-page-token": token,
    }


@router.post("/v1/{prefix}/namespaces")
def create_namespace(c: C, body: CreateNamespaceRequest) -> dict[str, object]:
    """``createNamespace`` (Iceberg REST spec): one commit that writes the namespace's marker.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        AlreadyExists: the namespace exists (a one-level namespace of a repository-scoped
            warehouse is a ref, which always exists).
        NoSuchNamespace: its parent or ref does not exist (refs are made with lakeFS).
        CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
            uncommitted changes.
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        ReadOnlyRef: the ref is a tag or a commit ID.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    namespace = tuple(body.namespace)
    if not namespace:
        raise BadRequest("cannot create the empty namespace")
    loc = c.locate(namespace)
    if not loc.namespace:
        refs.resolve(c.session, loc.repo, loc.ref, missing=_NoSuchRefToCreate)
        raise AlreadyExists(
            f"Namespace already exists: {loc.ref} (it is a lakeFS ref; refs always exist)"
        )

    def plan(state: RefState) -> Change[None]:
        if state.namespace_exists(loc.namespace):
            raise AlreadyExists(f"Namespace already exists: {_dotted(namespace)}")
        parent = loc.namespace[:-1]
        if not state.namespace_exists(parent):
            raise NoSuchNamespace(
                f"parent namespace {_dotted(namespace[:-1])!r} does not exist; create it first"
            )
        return Change(
            result=None,
            writes=[Write(namespace_marker(loc.namespace), namespace_document(body.properties))],
            message=f"catalog: create namespace {_dotted(loc.namespace)}",
            metadata={
                "vxp.catalog.action": "create-namespace",
                "vxp.catalog.namespace": _dotted(loc.namespace),
            },
        )

    _write(c, loc, plan, f"namespace {_dotted(namespace)!r}")
    return {"namespace": list(namespace), "properties": body.properties}


class _NoSuchRefToCreate(NoSuchNamespace):
    """Creating a one-level namespace in a repository-scoped warehouse would create a ref."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"{message}; the first namespace level is a lakeFS ref, create branches with lakeFS "
            "(vxp branch create), not through the catalog"
        )


@router.get("/v1/{prefix}/namespaces/{namespace}")
def load_namespace(c: C, namespace: str) -> dict[str, object]:
    """``loadNamespaceMetadata`` (Iceberg REST spec): its properties plus a ``location``.

    A ref's properties are ``lakefs.ref-type`` and ``lakefs.commit-id``.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchNamespace: the namespace or its ref does not exist.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    ns = namespace_param(namespace)
    return {"namespace": list(ns), "properties": _properties(c, ns)}


@router.head("/v1/{prefix}/namespaces/{namespace}", status_code=204)
def namespace_exists(c: C, namespace: str) -> Response:
    """``namespaceExists`` (Iceberg REST spec): 204 when it exists.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchNamespace: the namespace or its ref does not exist.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    _properties(c, namespace_param(namespace))
    return Response(status_code=204)


@router.delete("/v1/{prefix}/namespaces/{namespace}", status_code=204)
def drop_namespace(c: C, namespace: str) -> Response:
    """``dropNamespace`` (Iceberg REST spec): one commit that deletes an empty namespace's marker.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        UnsupportedOperation: the namespace is a lakeFS ref.
        NoSuchNamespace: the namespace or its ref does not exist.
        NamespaceNotEmpty: it holds tables, views or namespaces.
        CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
            uncommitted changes.
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        ReadOnlyRef: the ref is a tag or a commit ID.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    ns = namespace_param(namespace)
    loc = c.locate(ns)
    if not loc.namespace:
        raise UnsupportedOperation(
            f"namespace {loc.ref!r} is a lakeFS ref; delete branches with lakeFS, not the catalog"
        )

    def plan(state: RefState) -> Change[None]:
        if not state.namespace_exists(loc.namespace):
            raise NoSuchNamespace(f"Namespace does not exist: {_dotted(ns)}")
        if not state.is_empty(loc.namespace):
            raise NamespaceNotEmpty(
                f"Namespace {_dotted(ns)} is not empty; drop its tables, views and namespaces first"
            )
        return Change(
            result=None,
            writes=[Write(namespace_marker(loc.namespace), None)],
            message=f"catalog: drop namespace {_dotted(loc.namespace)}",
            metadata={
                "vxp.catalog.action": "drop-namespace",
                "vxp.catalog.namespace": _dotted(loc.namespace),
            },
        )

    _write(c, loc, plan, f"namespace {_dotted(ns)!r}")
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/properties")
def update_properties(
    c: C, namespace: str, body: UpdateNamespacePropertiesRequest
) -> dict[str, object]:
    """``updateProperties`` (Iceberg REST spec): what was updated, removed, or missing.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        UnprocessableEntity: a key is both updated and removed.
        UnsupportedOperation: the namespace is a lakeFS ref.
        NoSuchNamespace: the namespace or its ref does not exist.
        CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
            uncommitted changes.
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        ReadOnlyRef: the ref is a tag or a commit ID.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    ns = namespace_param(namespace)
    both = sorted(set(body.removals) & set(body.updates))
    if both:
        raise UnprocessableEntity(f"properties {both} are both updated and removed")
    loc = c.locate(ns)
    if not loc.namespace:
        raise UnsupportedOperation(f"namespace {loc.ref!r} is a lakeFS ref; it has no properties")

    def plan(state: RefState) -> Change[dict[str, object]]:
        props = state.namespace_properties(loc.namespace)
        if props is None:
            raise NoSuchNamespace(f"Namespace does not exist: {_dotted(ns)}")
        removed = [key for key in body.removals if key in props]
        missing = [key for key in body.removals if key not in props]
        new = {k: v for k, v in props.items() if k not in body.removals} | body.updates
        result: dict[str, object] = {
            "updated": sorted(body.updates),
            "removed": removed,
            "missing": missing,
        }
        if new == props:
            return Change(result=result)
        return Change(
            result=result,
            writes=[Write(namespace_marker(loc.namespace), namespace_document(new))],
            message=f"catalog: update properties of namespace {_dotted(loc.namespace)}",
            metadata={
                "vxp.catalog.action": "update-namespace-properties",
                "vxp.catalog.namespace": _dotted(loc.namespace),
            },
        )

    return _write(c, loc, plan, f"namespace {_dotted(ns)!r}")
