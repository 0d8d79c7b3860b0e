"""What the table and view routes share: identifiers from requests, listings, load responses."""

from __future__ import annotations

import json

from fastapi import Response

from vxp.catalog.context import Ctx, namespace_param
from vxp.catalog.entries import EntryService, Kind, TableId, TableResult
from vxp.catalog.errors import BadRequest
from vxp.catalog.limits import check_entry_path
from vxp.catalog.models import RenameTableRequest, TableIdentifier
from vxp.catalog.routes.paging import page
from vxp.catalog.state import validate_name
from vxp.core.layout import Namespace, decode_level


def entry_id(c: Ctx, kind: Kind, namespace: Namespace, name: str) -> TableId:
    """The table or view a request names; tables and views live in namespaces inside a ref.

    Raises:
        BadRequest: the name or namespace breaks a name rule, the namespace is the ref itself,
            or the entry's lakeFS path would pass lakeFS's 1,024-byte limit.
    """
    validate_name(kind.noun, name)
    loc = c.locate(namespace)
    if not loc.namespace:
        raise BadRequest(
            f"{kind.noun}s live in a namespace inside the ref; "
            f"{'.'.join(namespace)!r} is the ref itself"
        )
    check_entry_path(loc.namespace, name)
    return TableId(loc, name, namespace)


def list_entries(
    c: Ctx, kind: Kind, namespace: str, page_token: str | None, page_size: int | None
) -> dict[str, object]:
    """One page of the tables or views in a namespace (none in a ref itself).

    Raises:
        BadRequest: a name rule, or ``pageSize`` below 1.
        NoSuchNamespace: the namespace or ref does not exist.
        LakeFSNotFound: the warehouse's repository does not exist (answered as a 500).
    """
    ns = namespace_param(namespace)
    loc, state = c.listing(ns)
    if not loc.namespace:
        return {"identifiers": [], "next-page-token": None}
    encoded, token = page(kind.names(state, loc.namespace, page_token or ""), page_token, page_size)
    return {
        "identifiers": [{"namespace": list(ns), "name": decode_level(n)} for n in encoded],
        "next-page-token": token,
    }


def check_identifier(kind: Kind, identifier: TableIdentifier | None, entry: TableId) -> None:
    """A commit's body may name its table or view again: then it must be the one in the path.

    Raises:
        BadRequest: the body names another table or view.
    """
    if identifier is None:
        return
    if (tuple(identifier.namespace), identifier.name) != (entry.rest_namespace, entry.name):
        raise BadRequest(f"the identifier in the body does not match the {kind.noun} in the path")


def rename(c: Ctx, service: EntryService, body: RenameTableRequest) -> Response:
    """``renameTable`` or ``renameView`` (Iceberg REST spec): 204 once the pointer moved.

    Raises:
        BadRequest, NoSuchTable, NoSuchView, NoSuchNamespace, AlreadyExists, CommitFailed:
            see :meth:`vxp.catalog.entries.EntryService.rename`.
    """
    kind = service.kind
    source = entry_id(c, kind, tuple(body.source.namespace), body.source.name)
    target = entry_id(c, kind, tuple(body.destination.namespace), body.destination.name)
    service.rename(c.session, c.caller, source, target)
    return Response(status_code=204)


def load_response(
    c: Ctx, result: TableResult, *, config: bool = True, headers: dict[str, str] | None = None
) -> Response:
    """A LoadTableResult or LoadViewResult, with the client config when ``config``.

    The metadata JSON is passed through as bytes: parsing and re-serialising it per request
    would cost more than the rest of a load.
    """
    parts = [
        b'{"metadata-location":',
        json.dumps(result.metadata_location).encode(),
        b',"metadata":',
        result.metadata,
    ]
    if config:
        parts += [b',"config":', json.dumps(c.rt.settings.client_config()).encode()]
    parts.append(b"}")
    return Response(b"".join(parts), media_type="application/json", headers=headers)
