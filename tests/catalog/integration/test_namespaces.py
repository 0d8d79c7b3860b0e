"""Namespace CRUD through pyiceberg and raw REST, in both warehouse styles."""

from __future__ import annotations

import pytest
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    RESTError,
)
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from tests.catalog.conftest import Admin, CatalogServer

SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))


def test_namespace_crud(catalog_server: CatalogServer, repo: str) -> None:
    cat = catalog_server.pyiceberg(f"{repo}.main")
    cat.create_namespace("trial", {"owner": "ana"})
    cat.create_namespace(("trial", "basel"))
    cat.create_namespace(("trial", "zurich"))
    with pytest.raises(NamespaceAlreadyExistsError):
        cat.create_namespace("trial")
    with pytest.raises(RESTError, match="parent namespace 'nope' does not exist"):
        cat.create_namespace(("nope", "child"))

    assert cat.list_namespaces() == [("trial",)]
    assert cat.list_namespaces("trial") == [("trial", "basel"), ("trial", "zurich")]
    location = f"{catalog_server.settings.warehouse_root}/{repo}/trial"
    assert cat.load_namespace_properties("trial") == {"owner": "ana", "location": location}
    assert cat.namespace_exists(("trial", "basel"))
    assert not cat.namespace_exists(("trial", "bern"))

    summary = cat.update_namespace_properties("trial", removals={"owner", "x"}, updates={"a": "1"})
    assert summary.removed == ["owner"] and summary.updated == ["a"] and summary.missing == ["x"]
    assert cat.load_namespace_properties("trial") == {"a": "1", "location": location}

    cat.create_table(("trial", "basel", "patients"), SCHEMA)
    with pytest.raises(NamespaceNotEmptyError):
        cat.drop_namespace(("trial", "basel"))
    with pytest.raises(NamespaceNotEmptyError):
        cat.drop_namespace("trial")  # has child namespaces
    cat.drop_table(("trial", "basel", "patients"))
    cat.drop_namespace(("trial", "basel"))
    assert cat.list_namespaces("trial") == [("trial", "zurich")]
    with pytest.raises(NoSuchNamespaceError):
        cat.drop_namespace(("trial", "basel"))


def test_namespace_pagination(catalog_server: CatalogServer, repo: str) -> None:
    cat = catalog_server.pyiceberg(f"{repo}.main")
    names = [f"ns{i:02d}" for i in range(7)]
    for name in names:
        cat.create_namespace(name)
    seen: list[str] = []
    token = ""
    pages = 0
    with catalog_server.http() as http:
        while token is not None:
            body = http.get(
                f"/v1/{repo}.main/namespaces", params={"pageToken": token, "pageSize": 3}
            ).json()
            seen += [ns[0] for ns in body["namespaces"]]
            token = body["next-page-token"]
            pages += 1
        assert seen == names and pages == 3
        # without a page token every result comes in one response
        assert len(http.get(f"/v1/{repo}.main/namespaces").json()["namespaces"]) == 7


def test_repository_scoped_warehouse(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    cat = catalog_server.pyiceberg(repo)
    cat.create_namespace(("main", "basel"))
    admin.branch("integration")
    admin.tag("v1", "main")
    # top-level namespaces are the refs; a ref namespace reports what it is
    assert set(cat.list_namespaces()) == {("main",), ("integration",), ("v1",)}
    assert cat.load_namespace_properties("v1")["lakefs.ref-type"] == "tag"
    assert cat.list_namespaces("integration") == [("integration", "basel")]
    assert cat.namespace_exists(("integration", "basel"))
    with pytest.raises(NoSuchNamespaceError, match="does not exist"):
        cat.load_namespace_properties(("nobranch", "basel"))


def test_unknown_warehouse_is_404(catalog_server: CatalogServer, repo: str) -> None:
    with catalog_server.http() as http:
        response = http.get("/v1/config", params={"warehouse": "no-such-repo"})
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "NoSuchWarehouseException"
        response = http.get("/v1/config", params={"warehouse": f"{repo}.nobranch"})
        assert response.status_code == 404
        # no warehouse and no default configured: a 400 that says what to send
        response = http.get("/v1/config")
        assert response.status_code == 400
        assert "warehouse" in response.json()["error"]["message"]
