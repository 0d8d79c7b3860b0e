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
    return entries.list_entries(c, VIEW, namespace, page_token, page_size)


@router.post("/v1/{prefix}/namespaces/{namespace}/views")
def create_view(c: C, namespace: str, body: CreateViewRequest) -> Response:
    view = _view(c, namespace_param(namespace), body.name)
    return entries.load_response(c, c.rt.views.create(c.session, c.caller, view, body))


@router.post("/v1/{prefix}/namespaces/{namespace}/register-view")
def register_view(c: C, namespace: str, body: RegisterViewRequest) -> Response:
    view = _view(c, namespace_param(namespace), body.name)
    return entries.load_response(c, c.rt.views.register(c.session, c.caller, view, body))


@router.get("/v1/{prefix}/namespaces/{namespace}/views/{view}")
def load_view(c: C, namespace: str, view: str) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    return entries.load_response(c, c.rt.views.load(c.session, vid))


@router.head("/v1/{prefix}/namespaces/{namespace}/views/{view}", status_code=204)
def view_exists(c: C, namespace: str, view: str) -> Response:
    c.rt.views.existing(c.session, _view(c, namespace_param(namespace), path_value(view)))
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/views/{view}")
def replace_view(c: C, namespace: str, view: str, body: CommitViewRequest) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    entries.check_identifier(VIEW, body.identifier, vid)
    return entries.load_response(c, c.rt.views.commit(c.session, c.caller, vid, body))


@router.delete("/v1/{prefix}/namespaces/{namespace}/views/{view}", status_code=204)
def drop_view(c: C, namespace: str, view: str) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    c.rt.views.drop(c.session, c.caller, vid)
    return Response(status_code=204)


@router.post("/v1/{prefix}/views/rename", status_code=204)
def rename_view(c: C, body: RenameTableRequest) -> Response:
    return entries.rename(c, c.rt.views, body)
