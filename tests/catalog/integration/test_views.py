"""Views over raw REST (pyiceberg's view support is partial): lifecycle, name clashes with
tables, and versioning by lakeFS refs like tables."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pyarrow as pa
from fastapi.routing import APIRoute

from tests.catalog.conftest import Admin, CatalogServer
from vxp.catalog.routes import views as view_routes

ARROW = pa.schema([("id", pa.int64())])
# what the view routes serve, labelled as in the config's "endpoints"
VIEW_ENDPOINTS = {
    f"{method} {route.path}"
    for route in view_routes.router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
}


def version(sql: str, version_id: int = 1, schema_id: int = 0) -> dict[str, Any]:
    return {
        "version-id": version_id,
        "schema-id": schema_id,
        "timestamp-ms": 1_700_000_000_000 + version_id,
        "summary": {"engine-name": "test"},
        "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}],
        "default-namespace": ["trial"],
    }


def create_body(name: str, sql: str = "select id from trial.t") -> dict[str, Any]:
    return {
        "name": name,
        "schema": {
            "type": "struct",
            "schema-id": 7,
            "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}],
        },
        "view-version": version(sql),
        "properties": {"owner": "ana"},
    }


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["type"], body["message"]


def test_view_lifecycle(catalog_server: CatalogServer, repo: str, admin: Admin) -> None:
    base = f"/v1/{repo}.main"
    views = f"{base}/namespaces/trial/views"
    with catalog_server.http() as http:
        config = http.get("/v1/config", params={"warehouse": f"{repo}.main"}).json()
        # the config advertises exactly the view endpoints served (the spec's eight)
        assert len(VIEW_ENDPOINTS) == 8
        advertised = {e for e in config["endpoints"] if "view" in e.split(" ", 1)[1]}
        assert advertised == VIEW_ENDPOINTS
        http.post(f"{base}/namespaces", json={"namespace": ["trial"]}).raise_for_status()
        http.post(f"{base}/namespaces", json={"namespace": ["other"]}).raise_for_status()

        created = http.post(views, json=create_body("v"))
        assert created.status_code == 200, created.text
        meta = created.json()["metadata"]
        assert meta["current-version-id"] == 1 and meta["schemas"][0]["schema-id"] == 0
        location = created.json()["metadata-location"]
        assert location.startswith(catalog_server.settings.warehouse_root + f"/{repo}/trial/v-")
        # a view change is a lakeFS commit that names the view and its version
        last = admin.log()[0]["metadata"]
        assert isinstance(last, dict) and last["vxp.catalog.action"] == "create-view"
        assert json.loads(last["vxp.catalog.changes"])[0]["version-id"] == 1

        assert http.get(views).json()["identifiers"] == [{"namespace": ["trial"], "name": "v"}]
        assert http.get(f"{base}/namespaces/trial/tables").json()["identifiers"] == []
        assert http.head(f"{views}/v").status_code == 204
        assert http.get(f"{views}/v").json()["metadata-location"] == location

        replace = {
            "requirements": [{"type": "assert-view-uuid", "uuid": meta["view-uuid"]}],
            "updates": [
                {"action": "add-view-version", "view-version": version("select 2", 2)},
                {"action": "set-current-view-version", "view-version-id": -1},
            ],
        }
        replaced = http.post(f"{views}/v", json=replace)
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["metadata"]["current-version-id"] == 2
        assert http.get(f"{views}/v").json()["metadata"]["current-version-id"] == 2

        stale = {**replace, "requirements": [{"type": "assert-view-uuid", "uuid": "0" * 32}]}
        status, type_, message = error(http.post(f"{views}/v", json=stale))
        assert (status, type_) == (409, "CommitFailedException")
        assert message.startswith("Requirement failed: view UUID does not match")

        rename = {
            "source": {"namespace": ["trial"], "name": "v"},
            "destination": {"namespace": ["other"], "name": "w"},
        }
        assert http.post(f"{base}/views/rename", json=rename).status_code == 204
        assert http.head(f"{views}/v").status_code == 404
        assert http.delete(f"{base}/namespaces/other/views/w").status_code == 204
        assert error(http.delete(f"{base}/namespaces/other/views/w")) == (
            404,
            "NoSuchViewException",
            "View does not exist: other.w",
        )
        assert error(http.get(f"{base}/namespaces/nope/views/v"))[:2] == (
            404,
            "NoSuchViewException",
        )


def test_tables_and_views_share_one_name_space(catalog_server: CatalogServer, repo: str) -> None:
    cat = catalog_server.trial(repo)
    cat.create_table("trial.t", schema=ARROW)
    base = f"/v1/{repo}.main"
    views = f"{base}/namespaces/trial/views"
    with catalog_server.http() as http:
        assert error(http.post(views, json=create_body("t"))) == (
            409,
            "AlreadyExistsException",
            "Table with same name already exists: trial.t",
        )
        registered = http.post(views, json=create_body("v")).json()["metadata-location"]
        table = {"name": "v", "schema": {"type": "struct", "fields": []}}
        assert error(http.post(f"{base}/namespaces/trial/tables", json=table)) == (
            409,
            "AlreadyExistsException",
            "View with same name already exists: trial.v",
        )

        def rename(kind: str, source: str, target: str) -> httpx.Response:
            body = {
                "source": {"namespace": ["trial"], "name": source},
                "destination": {"namespace": ["trial"], "name": target},
            }
            return http.post(f"{base}/{kind}/rename", json=body)

        assert error(rename("tables", "t", "v"))[2] == (
            "Cannot rename trial.t to trial.v. View already exists"
        )
        assert error(rename("views", "v", "t"))[2] == (
            "Cannot rename trial.v to trial.t. Table already exists"
        )
        register = {"name": "t", "metadata-location": registered}
        assert error(http.post(f"{base}/namespaces/trial/register-view", json=register))[2] == (
            "Table with same name already exists: trial.t"
        )

        # a namespace that holds only a view is not empty
        cat.drop_table("trial.t")
        status, type_, message = error(http.delete(f"{base}/namespaces/trial"))
        assert (status, type_) == (409, "NamespaceNotEmptyException")
        assert "is not empty" in message
        http.delete(f"{views}/v").raise_for_status()
        assert http.delete(f"{base}/namespaces/trial").status_code == 204


def test_views_are_versioned_by_refs(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    with catalog_server.http() as http:
        http.post(f"/v1/{repo}.main/namespaces", json={"namespace": ["trial"]}).raise_for_status()
        created = http.post(f"/v1/{repo}.main/namespaces/trial/views", json=create_body("v"))
        first_location = created.json()["metadata-location"]
        admin.branch("dev")
        admin.tag("v1", "main")
        dev = f"/v1/{repo}.dev/namespaces/trial/views/v"
        uuid = http.get(dev).json()["metadata"]["view-uuid"]
        replace = {
            "requirements": [{"type": "assert-view-uuid", "uuid": uuid}],
            "updates": [
                {"action": "add-view-version", "view-version": version("select 2", 2)},
                {"action": "set-current-view-version", "view-version-id": -1},
            ],
        }
        http.post(dev, json=replace).raise_for_status()
        # invisible on main until merged, frozen on the tag for good
        main = f"/v1/{repo}.main/namespaces/trial/views/v"
        assert http.get(main).json()["metadata"]["current-version-id"] == 1
        admin.merge("dev", "main").raise_for_status()
        assert http.get(main).json()["metadata"]["current-version-id"] == 2
        tagged = http.get(f"/v1/{repo}.v1/namespaces/trial/views/v").json()
        assert tagged["metadata-location"] == first_location
        status, type_, _ = error(
            http.post(f"/v1/{repo}.v1/namespaces/trial/views", json=create_body("w"))
        )
        assert (status, type_) == (403, "ForbiddenException")

        # a dropped view's metadata can be registered again, here in a repository-scoped warehouse
        http.delete(main).raise_for_status()
        register = {"name": "again", "metadata-location": first_location}
        registered = http.post(f"/v1/{repo}/namespaces/main%1Ftrial/register-view", json=register)
        assert registered.status_code == 200, registered.text
        loaded = http.get(f"/v1/{repo}/namespaces/main%1Ftrial/views/again").json()
        assert loaded["metadata"]["current-version-id"] == 1
