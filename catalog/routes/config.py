"""GET /v1/config: resolve the client's warehouse into the route prefix it must use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from vxp.catalog.auth import Caller, session_for
from vxp.catalog.context import Runtime, caller, runtime
from vxp.catalog.errors import BadRequest
from vxp.catalog.refs import check_warehouse, parse_warehouse

router = APIRouter()

ENDPOINTS = [
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
    "GET /v1/{prefix}/namespaces/{namespace}/views",
    "POST /v1/{prefix}/namespaces/{namespace}/views",
    "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/views/rename",
    "POST /v1/{prefix}/namespaces/{namespace}/register-view",
]


@router.get("/v1/config")
def get_config(
    rt: Annotated[Runtime, Depends(runtime)],
    who: Annotated[Caller, Depends(caller)],
    warehouse: str | None = None,
) -> dict[str, object]:
    """``getConfig`` (Iceberg REST spec): resolve the client's warehouse into the route prefix.

    Answers ``overrides.prefix`` (the warehouse name, URL-encoded) and the endpoints served.

    Raises:
        NotAuthorized: no valid bearer token.
        BadRequest: no warehouse given and no default, or not a warehouse name.
        NoSuchWarehouse: its repository or ref does not exist.
    """
    name = warehouse or rt.settings.default_warehouse
    if not name:
        raise BadRequest(
            "no warehouse given and this catalog has no default: pass warehouse='<repository>' "
            "(first namespace level is a ref) or '<repository>.<ref>'"
        )
    wh = parse_warehouse(name)
    check_warehouse(session_for(rt.lakefs, who), wh)
    return {"defaults": {}, "overrides": {"prefix": wh.prefix}, "endpoints": ENDPOINTS}
