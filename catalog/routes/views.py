"""View routes: list, create, load, exists, commit (replace), drop, rename, register."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from catalog import refs
from catalog.context import Ctx, ctx, namespace_param, path_value
from catalog.errors import BadRequest, NoSuchNamespace
from catalog.models import (
    CommitViewRequest,
    CreateViewRequest,
    RegisterViewRequest,
    RenameTableRequest,
)
from catalog.routes.paging import page
from catalog.state import RefState, decode_level, validate_name, validate_namespace
from catalog.tables import TableResult
from catalog.views import ViewId, missing_view

router = APIRouter()
C = Annotated[Ctx, Depends(ctx)]


def _view(c: Ctx, namespace: tuple[str, ...], name: str) -> ViewId:
    validate_name("view", name)
    validate_namespace(namespace)
    loc = c.warehouse.locate(namespace)
    if not loc.namespace:
        raise BadRequest(
            f"views live in a namespace inside the ref; {'.'.join(namespace)!r} is the ref itself"
        )
    return ViewId(loc, name, namespace)


def _response(c: Ctx, result: TableResult) -> Response:
    # LoadViewResult; the metadata bytes are passed through unparsed, as for tables
    body = b"".join(
        [
            b'{"metadata-location":',
            json.dumps(result.metadata_location).encode(),
            b',"metadata":',
            result.metadata,
            b',"config":',
            json.dumps(c.rt.settings.client_config()).encode(),
            b"}",
        ]
    )
    return Response(body, media_type="application/json")


@router.get("/v1/{prefix}/namespaces/{namespace}/views")
def list_views(
    c: C,
    namespace: str,
    page_token: Annotated[str | None, Query(alias="pageToken")] = None,
    page_size: Annotated[int | None, Query(alias="pageSize")] = None,
) -> dict[str, object]:
    ns = namespace_param(namespace)
    validate_namespace(ns)
    loc = c.warehouse.locate(ns)
    state = RefState(c.session, loc.repo, loc.ref)
    if not loc.namespace:
        refs.resolve(c.session, loc.repo, loc.ref)
        return {"identifiers": [], "next-page-token": None}
    if not state.namespace_exists(loc.namespace):
        refs.resolve(c.session, loc.repo, loc.ref)
        raise NoSuchNamespace(f"Namespace does not exist: {'.'.join(ns)}")
    encoded, token = page(state.views(loc.namespace, page_token or ""), page_token, page_size)
    return {
        "identifiers": [{"namespace": list(ns), "name": decode_level(n)} for n in encoded],
        "next-page-token": token,
    }


@router.post("/v1/{prefix}/namespaces/{namespace}/views")
def create_view(c: C, namespace: str, body: CreateViewRequest) -> Response:
    view = _view(c, namespace_param(namespace), body.name)
    return _response(c, c.rt.views.create(c.session, c.caller, view, body))


@router.post("/v1/{prefix}/namespaces/{namespace}/register-view")
def register_view(c: C, namespace: str, body: RegisterViewRequest) -> Response:
    view = _view(c, namespace_param(namespace), body.name)
    return _response(c, c.rt.views.register(c.session, c.caller, view, body))


@router.get("/v1/{prefix}/namespaces/{namespace}/views/{view}")
def load_view(c: C, namespace: str, view: str) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    return _response(c, c.rt.views.load(c.session, vid))


@router.head("/v1/{prefix}/namespaces/{namespace}/views/{view}", status_code=204)
def view_exists(c: C, namespace: str, view: str) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    if c.rt.views.pointer(c.session, vid) is None:
        raise missing_view(c.session, vid)
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/views/{view}")
def replace_view(c: C, namespace: str, view: str, body: CommitViewRequest) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    if body.identifier is not None and (
        tuple(body.identifier.namespace),
        body.identifier.name,
    ) != (vid.rest_namespace, vid.name):
        raise BadRequest("the identifier in the body does not match the view in the path")
    return _response(c, c.rt.views.commit(c.session, c.caller, vid, body))


@router.delete("/v1/{prefix}/namespaces/{namespace}/views/{view}", status_code=204)
def drop_view(c: C, namespace: str, view: str) -> Response:
    vid = _view(c, namespace_param(namespace), path_value(view))
    c.rt.views.drop(c.session, c.caller, vid)
    return Response(status_code=204)


@router.post("/v1/{prefix}/views/rename", status_code=204)
def rename_view(c: C, body: RenameTableRequest) -> Response:
    source = _view(c, tuple(body.source.namespace), body.source.name)
    target = _view(c, tuple(body.destination.namespace), body.destination.name)
    c.rt.views.rename(c.session, c.caller, source, target)
    return Response(status_code=204)
