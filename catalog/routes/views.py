"""View routes: list, create, load, exists, commit (replace), drop, rename, register.

A view's load response is a table's (:mod:`catalog.routes.entries`) without an ETag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from vxp.catalog.context import Ctx, ctx, namespace_param, path_value
from vxp.catalog.entries import VIEW
from vxp.catalog.models import (
    CommitViewRequest,
    CreateViewRequest,
    RegisterViewRequest,
    RenameTableRequest,
)
from vxp.catalog.routes import entries
from vxp.catalog.routes.paging import PageSize, PageToken
from vxp.catalog.views import ViewId

router = APIRouter()
C = Annotated[Ctx, Depends(ctx)]


def _view(c: Ctx, namespace: tuple[str, ...], name: str) -> ViewId:
    return entries.entry_id(c, VIEW, namespace, name)


@router.get("/v1/{prefix}/namespaces/{namespace}/views")
def list_views(
    c: C,
    namespace: str,
    page_token: PageToken = None,
    page_size: PageSize = None,
) -> dict[str, object]:
    """``listViews`` (Iceberg REST spec): one page of the views in a namespace.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchNamespace: the namespace or its ref does not exist.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    return entries.list_entries(c, VIEW, namespace, page_token, page_size)


@router.post("/v1/{prefix}/namespaces/{namespace}/views")
def create_view(c: C, namespace: str, body: CreateViewRequest) -> Response:
    """``createView`` (Iceberg REST spec): the new view's metadata and config.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        BadRequest, InvalidArgument, NoSuchNamespace, AlreadyExists, CommitFailed:
            see :meth:`vxp.catalog.views.ViewService.create`.
    """
    view = _view(c, namespace_param(namespace), body.name)
    return entries.load_response(c, c.rt.views.create(c.session, c.caller, view, body))


@router.post("/v1/{prefix}/namespaces/{namespace}/register-view")
def register_view(c: C, namespace: str, body: RegisterViewRequest) -> Response:
    """``registerView`` (Iceberg REST spec): a view pointed at an existing metadata file.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        BadRequest, NotFound, NoSuchNamespace, AlreadyExists, CommitFailed:
            see :meth:`vxp.catalog.views.ViewService.register`.
    """
    view = _view(c, namespace_param(namespace), body.name)
    return entries.load_response(c, c.rt.views.register(c.session, c.caller, view, body))


@router.get("/v1/{prefix}/namespaces/{namespace}/views/{view}")
def load_view(c: C, namespace: str, view: str) -> Response:
    """``loadView`` (Iceberg REST spec): metadata, its location and the storage config.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchView: no such view (or namespace, or ref).
        NotFound: the view's metadata file no longer exists.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    vid = _view(c, namespace_param(namespace), path_value(view))
    return entries.load_response(c, c.rt.views.load(c.session, vid))


@router.head("/v1/{prefix}/namespaces/{namespace}/views/{view}", status_code=204)
def view_exists(c: C, namespace: str, view: str) -> Response:
    """``viewExists`` (Iceberg REST spec): 204 when it exists.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchView: no such view (or namespace, or ref).
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    c.rt.views.existing(c.session, _view(c, namespace_param(namespace), path_value(view)))
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/views/{view}")
def replace_view(c: C, namespace: str, view: str, body: CommitViewRequest) -> Response:
    """``replaceView`` (Iceberg REST spec): requirements checked, updates applied, one commit.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchView, InvalidArgument, CommitFailed: see
            :meth:`vxp.catalog.views.ViewService.commit`.
    """
    vid = _view(c, namespace_param(namespace), path_value(view))
    entries.check_identifier(VIEW, body.identifier, vid)
    return entries.load_response(c, c.rt.views.commit(c.session, c.caller, vid, body))


@router.delete("/v1/{prefix}/namespaces/{namespace}/views/{view}", status_code=204)
def drop_view(c: C, namespace: str, view: str) -> Response:
    """``dropView`` (Iceberg REST spec): the pointer goes, the metadata file stays.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchView: no such view (or namespace, or ref).
        CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
            uncommitted changes.
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        ReadOnlyRef: the ref is a tag or a commit ID.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    vid = _view(c, namespace_param(namespace), path_value(view))
    c.rt.views.drop(c.session, c.caller, vid)
    return Response(status_code=204)


@router.post("/v1/{prefix}/views/rename", status_code=204)
def rename_view(c: C, body: RenameTableRequest) -> Response:
    """``renameView`` (Iceberg REST spec); see :func:`vxp.catalog.routes.entries.rename`."""
    return entries.rename(c, c.rt.views, body)
