"""Table routes: list, create (also staged), load, exists, commit, drop, register, rename,
multi-table transactions, and the metrics sink."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from vxp.catalog.context import Ctx, ctx, namespace_param, path_value
from vxp.catalog.entries import TABLE, TableId, TableResult
from vxp.catalog.errors import BadRequest
from vxp.catalog.models import (
    CommitTableRequest,
    CommitTransactionRequest,
    CreateTableRequest,
    RegisterTableRequest,
    RenameTableRequest,
    ReportMetricsRequest,
)
from vxp.catalog.routes import entries
from vxp.catalog.routes.paging import PageSize, PageToken

log = logging.getLogger(__name__)
router = APIRouter()
C = Annotated[Ctx, Depends(ctx)]


def _table(c: Ctx, namespace: tuple[str, ...], name: str) -> TableId:
    return entries.entry_id(c, TABLE, namespace, name)


def _etag(metadata_location: str) -> str:
    # metadata files are immutable, so their location identifies the metadata exactly
    return '"' + hashlib.sha256(metadata_location.encode()).hexdigest()[:32] + '"'


def _json_response(c: Ctx, result: TableResult, *, with_config: bool) -> Response:
    headers = {"ETag": _etag(result.metadata_location)} if result.metadata_location else {}
    return entries.load_response(c, result, config=with_config, headers=headers)


@router.get("/v1/{prefix}/namespaces/{namespace}/tables")
def list_tables(
    c: C,
    namespace: str,
    page_token: PageToken = None,
    page_size: PageSize = None,
) -> dict[str, object]:
    """``listTables`` (Iceberg REST spec): one page of the tables in a namespace.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchNamespace: the namespace or its ref does not exist.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    return entries.list_entries(c, TABLE, namespace, page_token, page_size)


@router.post("/v1/{prefix}/namespaces/{namespace}/tables")
def create_table(c: C, namespace: str, body: CreateTableRequest) -> Response:
    """``createTable`` (Iceberg REST spec): the new (or staged) table's metadata and config.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        BadRequest, InvalidArgument, NoSuchNamespace, AlreadyExists, CommitFailed:
            see :meth:`vxp.catalog.tables.TableService.create`.
    """
    table = _table(c, namespace_param(namespace), body.name)
    result = c.rt.tables.create(c.session, c.caller, table, body)
    return _json_response(c, result, with_config=True)


@router.post("/v1/{prefix}/namespaces/{namespace}/register")
def register_table(c: C, namespace: str, body: RegisterTableRequest) -> Response:
    """``registerTable`` (Iceberg REST spec): a table pointed at an existing metadata file.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        BadRequest, NotFound, NoSuchNamespace, AlreadyExists, CommitFailed:
            see :meth:`vxp.catalog.tables.TableService.register`.
    """
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
    """``loadTable`` (Iceberg REST spec): metadata, its location and the storage config.

    Answers 304 when ``If-None-Match`` holds the current ETag (a hash of the metadata location;
    metadata files never change).

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchTable: no such table (or namespace, or ref).
        NotFound: the table's metadata file no longer exists.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    tid = _table(c, namespace_param(namespace), path_value(table))
    location = c.rt.tables.existing(c.session, tid).metadata_location
    if if_none_match == _etag(location):
        return Response(status_code=304, headers={"ETag": if_none_match})
    result = TableResult(location, c.rt.files.read_raw(location, check_exists=True))
    return _json_response(c, result, with_config=True)


@router.head("/v1/{prefix}/namespaces/{namespace}/tables/{table}", status_code=204)
def table_exists(c: C, namespace: str, table: str) -> Response:
    """``tableExists`` (Iceberg REST spec): 204 when it exists.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchTable: no such table (or namespace, or ref).
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    c.rt.tables.existing(c.session, _table(c, namespace_param(namespace), path_value(table)))
    return Response(status_code=204)


@router.post("/v1/{prefix}/namespaces/{namespace}/tables/{table}")
def commit_table(c: C, namespace: str, table: str, body: CommitTableRequest) -> Response:
    """``updateTable`` (Iceberg REST spec): requirements checked, updates applied, one commit.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        CommitFailed: a requirement failed, or the branch kept changing (409: refresh and
            retry).
        NoSuchTable, InvalidArgument: see :meth:`vxp.catalog.tables.TableService.commit`.
    """
    tid = _table(c, namespace_param(namespace), path_value(table))
    entries.check_identifier(TABLE, body.identifier, tid)
    [result] = c.rt.tables.commit(c.session, c.caller, [(tid, body)])
    return _json_response(c, result, with_config=False)


@router.delete("/v1/{prefix}/namespaces/{namespace}/tables/{table}", status_code=204)
def drop_table(
    c: C,
    namespace: str,
    table: str,
    purge: Annotated[bool, Query(alias="purgeRequested")] = False,
) -> Response:
    """``dropTable`` (Iceberg REST spec): the pointer goes, the files stay (only ``vxp gc``
    deletes them, even with ``purgeRequested``).

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        NoSuchTable: no such table (or namespace, or ref).
        CommitFailed: the branch kept changing for ``commit_attempts`` plans in a row, or has
            uncommitted changes.
        CommitStateUnknown: lakeFS's answer to the merge was lost.
        ReadOnlyRef: the ref is a tag or a commit ID.
        LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
            :func:`vxp.catalog.errors.install`'s handlers).
    """
    tid = _table(c, namespace_param(namespace), path_value(table))
    c.rt.tables.drop(c.session, c.caller, tid, purge)
    return Response(status_code=204)


@router.post("/v1/{prefix}/tables/rename", status_code=204)
def rename_table(c: C, body: RenameTableRequest) -> Response:
    """``renameTable`` (Iceberg REST spec); see :func:`vxp.catalog.routes.entries.rename`."""
    return entries.rename(c, c.rt.tables, body)


@router.post("/v1/{prefix}/transactions/commit", status_code=204)
def commit_transaction(c: C, body: CommitTransactionRequest) -> Response:
    """``commitTransaction`` (Iceberg REST spec): every table's change in one lakeFS merge, or none.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
        BadRequest: a change without an identifier, tables on different branches, a table
            twice.
        CommitFailed, NoSuchTable, InvalidArgument: see
            :meth:`vxp.catalog.tables.TableService.commit`.
    """
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
    """``reportMetrics`` (Iceberg REST spec): accepted (204) and dropped; nothing reads them yet.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: the prefix, namespace or name breaks a name rule.
    """
    # Accepted and dropped: engines send scan/commit reports, nothing here consumes them yet.
    _table(c, namespace_param(namespace), path_value(table))
    return Response(status_code=204)
