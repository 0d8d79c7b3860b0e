"""Table routes: list, create (also staged), load, exists, commit, drop, register, rename,
multi-table transactions, and the metrics sink."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from catalog import refs
from catalog.context import Ctx, ctx, namespace_param, path_value
from catalog.errors import BadRequest, NoSuchNamespace
from catalog.models import (
    CommitTableRequest,
    CommitTransactionRequest,
    CreateTableRequest,
    RegisterTableRequest,
    RenameTableRequest,
    ReportMetricsRequest,
)
from catalog.refs import Location
from catalog.routes.paging import page
from catalog.state import RefState, decode_level, validate_name, validate_namespace
from catalog.tables import TableId, TableResult, missing_table

log = logging.getLogger(__name__)
router = APIRouter()
C = Annotated[Ctx, Depends(ctx)]


def _location(c: Ctx, namespace: tuple[str, ...]) -> Location:
    validate_namespace(namespace)
    loc = c.warehouse.locate(namespace)
    if not loc.namespace:
        raise BadRequest(
            f"tables live in a namespace inside the ref; {'.'.join(namespace)!r} is the ref itself"
        )
    return loc


def _table(c: Ctx, namespace: tuple[str, ...], name: str) -> TableId:
    validate_name("table", name)
    return TableId(_location(c, namespace), name, namespace)


def _etag(metadata_location: str) -> str:
    # metadata files are immutable, so their location identifies the metadata exactly
    return '"' + hashlib.sha256(metadata_location.encode()).hexdigest()[:32] + '"'


def _json_response(c: Ctx, result: TableResult, *, with_config: bool) -> Response:
    # The metadata JSON is passed through as bytes: parsing and re-serialising it per request
    # would cost more than the rest of a load.
    parts = [
        b'{"metadata-location":',
        json.dumps(result.metadata_location).encode(),
        b',"metadata":',
        result.metadata,
    ]
    if with_config:
        parts += [b',"config":', json.dumps(c.rt.settings.client_config()).encode()]
    parts.append(b"}")
    headers = {"ETag": _etag(result.metadata_location)} if result.metadata_location else {}
    return Response(b"".join(parts), media_type="application/json", headers=headers)


@router.get("/v1/{prefix}/namespaces/{namespace}/tables")
def list_tables(
    c: C,
    namespace: str,
    page_token: Annotated[str | None, Query(alias="pageToken")] = None,
    page_size: Annotated[int | None, Query(alias="pageSize")] = None,
) -> dict[str, object]:
    ns = namespace_param(namespace)
    validate_namespace(ns)
    loc = c.warehouse.locate(ns)
    state = RefState(c.session, loc.repo, loc.ref)
    if loc.namespace and not state.namespace_exists(loc.namespace):
        refs.resolve(c.session, loc.repo, loc.ref)
        raise NoSuchNamespace(f"Namespace does not exist: {'.'.join(ns)}")
    if not loc.namespace:
        refs.resolve(c.session, loc.repo, loc.ref)
        return {"identifiers": [], "next-page-token": None}
    encoded, token = page(state.tables(loc.namespace, page_token or ""), page_token, page_size)
    return {
        "identifiers": [{"namespace": list(ns), "name": decode_level(n)} for n in encoded],
        "next-page-token": token,
    }


@router.post("/v1/{prefix}/namespaces/{namespace}/tables")
def create_table(c: C, namespace: str, body: CreateTableRequest) -> Response:
    table = _table(c, namespace_param(namespace), body.name)
    result = c.rt.tables.create(c.session, c.caller, table, body)
    return _json_response(c, result, with_config=True)


@router.post("/v1/{prefix}/namespaces/{namespace}/register")
def register_table(c: C, namespace: str, body: RegisterTableRequest) -> Response:
    table = _table(c, namespace_param(namespace), body.name)
    result = c.rt.tables.register(c.session, c.caller, table, body)
    return _json_response(c, result, with_config=True)


@router.get("/v1/{prefix}/namespaces/{namespace}/tables/{table}")
def load_table(
    c: C,
    namespace: str,
    table: str,
    if_none_match: Annotated[str | None, Header()] = None,
    # declared so a value outside the spec's enum is a 400; both get every snapshot, a superset
    # of what "refs" asks for that clients accept
    snapshots: Literal["all", "refs"] | None = None,
) -> Response:
    tid = _table(c, namespace_param(namespace), path_value(table))
    pointer = c.rt.tables.pointer(c.session, tid)
    if pointer is None:
        raise missing_table(c.session, tid)
    location = pointer.metadata_location
    if if_none_match == _etag(location):
        return Response(status_code=304, headers={"ETag": if_none_match})
    result = TableResult(location, c.rt.files.read_raw(location, check_exists=True))
    return _json_response(c, result, with_config=True)


@router.head("/v1/{prefix}/namespaces/{namespace}/tables/{table}", status_code=204)
def table_exists(c: C, namespace: str, table: str) -> Response:
    tid = _table(c, namespace_param(namespace), path_value(table))
    if c.rt.tables.pointer(c.session, tid) is None:
        raise missing_table(c.session, tid)
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/tables/{table}")
def commit_table(c: C, namespace: str, table: str, body: CommitTableRequest) -> Response:
    tid = _table(c, namespace_param(namespace), path_value(table))
    if body.identifier is not None and (tuple(body.identifier.namespace), body.identifier.name) != (
        namespace_param(namespace),
        tid.name,
    ):
        raise BadRequest("the identifier in the body does not match the table in the path")
    [result] = c.rt.tables.commit(c.session, c.caller, [(tid, body)])
    return _json_response(c, result, with_config=False)


@router.delete("/v1/{prefix}/namespaces/{namespace}/tables/{table}", status_code=204)
def drop_table(
    c: C,
    namespace: str,
    table: str,
    purge: Annotated[bool, Query(alias="purgeRequested")] = False,
) -> Response:
    tid = _table(c, namespace_param(namespace), path_value(table))
    c.rt.tables.drop(c.session, c.caller, tid, purge)
    return Response(status_code=204)


@router.post("/v1/{prefix}/tables/rename", status_code=204)
def rename_table(c: C, body: RenameTableRequest) -> Response:
    source = _table(c, tuple(body.source.namespace), body.source.name)
    target = _table(c, tuple(body.destination.namespace), body.destination.name)
    c.rt.tables.rename(c.session, c.caller, source, target)
    return Response(status_code=204)


@router.post("/v1/{prefix}/transactions/commit", status_code=204)
def commit_transaction(c: C, body: CommitTransactionRequest) -> Response:
    changes = []
    for change in body.table_changes:
        if change.identifier is None:
            raise BadRequest("every table change of a transaction needs an identifier")
        tid = _table(c, tuple(change.identifier.namespace), change.identifier.name)
        changes.append((tid, change))
    c.rt.tables.commit(c.session, c.caller, changes)
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics", status_code=204)
def report_metrics(c: C, namespace: str, table: str, body: ReportMetricsRequest) -> Response:
    # Accepted and dropped: engines send scan/commit reports, nothing here consumes them yet.
    _table(c, namespace_param(namespace), path_value(table))
    return Response(status_code=204)
