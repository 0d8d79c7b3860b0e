"""Inputs the validators accept never answer 500 or leak a server path, every error carries a
request id, and the keep-alive connection survives an error: issue "Catalog security", finding 4.
"""

from __future__ import annotations

import httpx
import pytest

from tests.catalog.conftest import Admin, CatalogServer

SCHEMA = {
    "type": "struct",
    "schema-id": 0,
    "fields": [{"id": 1, "name": "x", "type": "long", "required": False}],
}


def _namespace(http: httpx.Client, repo: str, *levels: str) -> None:
    for depth in range(1, len(levels) + 1):
        response = http.post(
            f"/v1/{repo}.main/namespaces", json={"namespace": list(levels[:depth])}
        )
        assert response.status_code == 200, response.text


def _assert_clean(response: httpx.Response, status: int) -> None:
    """The status, no exception text, and the request id."""
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert "Errno" not in message
    assert "Traceback" not in message
    assert response.json()["error"]["request-id"] == response.headers["x-request-id"]


def test_a_long_table_name_is_created_or_refused_cleanly(
    catalog_server: CatalogServer, repo: str
) -> None:
    with catalog_server.http() as http:
        _namespace(http, repo, "ns")
        response = http.post(
            f"/v1/{repo}.main/namespaces/ns/tables", json={"name": "t" * 240, "schema": SCHEMA}
        )
        assert response.status_code == 200, response.text
        response = http.post(
            f"/v1/{repo}.main/namespaces/ns/tables", json={"name": "t" * 300, "schema": SCHEMA}
        )
        _assert_clean(response, 400)
        # the same connection still answers
        assert http.get("/v1/config", params={"warehouse": f"{repo}.main"}).status_code == 200


def test_a_namespace_past_lakefs_path_limit_is_a_400(
    catalog_server: CatalogServer, repo: str
) -> None:
    levels = [f"{i:02d}" + "n" * 200 for i in range(5)]
    with catalog_server.http() as http:
        _namespace(http, repo, *levels[:4])
        response = http.post(f"/v1/{repo}.main/namespaces", json={"namespace": levels})
        _assert_clean(response, 400)
        assert "1024" in response.json()["error"]["message"]


def test_a_table_path_past_lakefs_path_limit_is_a_400(
    catalog_server: CatalogServer, repo: str
) -> None:
    levels = [f"{i:02d}" + "n" * 200 for i in range(4)]
    with catalog_server.http() as http:  # 4 levels fit lakeFS's limit, a table below them not
        _namespace(http, repo, *levels)
        response = http.post(
            f"/v1/{repo}.main/namespaces/{'%1F'.join(levels)}/tables",
            json={"name": "t" * 200, "schema": SCHEMA},
        )
        _assert_clean(response, 400)


def test_a_nul_in_a_location_is_a_400(catalog_server: CatalogServer, repo: str) -> None:
    with catalog_server.http() as http:
        _namespace(http, repo, "ns")
        location = catalog_server.settings.warehouse_root + "/x\x00y"
        response = http.post(
            f"/v1/{repo}.main/namespaces/ns/tables",
            json={"name": "t", "schema": SCHEMA, "location": location},
        )
        _assert_clean(response, 400)
        response = http.post(
            f"/v1/{repo}.main/namespaces/ns/register",
            json={"name": "t", "metadata-location": location + ".metadata.json"},
        )
        _assert_clean(response, 400)


def test_register_of_a_directory_is_a_400(catalog_server: CatalogServer, repo: str) -> None:
    """pyarrow's error names the server path; the answer does not."""
    directory = catalog_server.warehouse_dir / repo / "a-directory.metadata.json"
    directory.mkdir(parents=True)
    with catalog_server.http() as http:
        _namespace(http, repo, "ns")
        response = http.post(
            f"/v1/{repo}.main/namespaces/ns/register",
            json={"name": "t", "metadata-location": directory.as_uri()},
        )
        _assert_clean(response, 400)
        assert str(directory) not in response.text
        assert http.get("/v1/config", params={"warehouse": f"{repo}.main"}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/nosuch.main/namespaces", "/v1/x/namespaces"])
def test_every_error_names_its_request_id(catalog_server: CatalogServer, path: str) -> None:
    with catalog_server.http() as http:
        response = http.get(path)
    assert response.status_code >= 400
    assert response.json()["error"]["request-id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("path", "content", "route"),
    [
        ("_vxp/catalog/tables/evil/t.json", b"not json", "/namespaces/evil/tables/t"),
        (
            "_vxp/catalog/tables/evil/t.json",
            b'{"metadata-location": 7}',
            "/namespaces/evil/tables/t",
        ),
        ("_vxp/catalog/namespaces/evil/.namespace.json", b'{"properties": []}', "/namespaces/evil"),
    ],
    ids=["pointer-not-json", "pointer-location-not-text", "marker-properties-not-object"],
)
def test_a_malformed_catalog_object_is_a_400_for_that_entry(
    catalog_server: CatalogServer, repo: str, admin: Admin, path: str, content: bytes, route: str
) -> None:
    objects = f"/repositories/{repo}/branches/main/objects"
    marker = ("_vxp/catalog/namespaces/evil/.namespace.json", b'{"properties": {}}')
    for key, body in (marker, (path, content)):
        admin.client.post(objects, params={"path": key}, content=body).raise_for_status()
    admin.client.post(
        f"/repositories/{repo}/branches/main/commits", json={"message": "plant"}
    ).raise_for_status()
    with catalog_server.http() as http:
        response = http.get(f"/v1/{repo}.main{route}")
        _assert_clean(response, 400)
        assert "malformed" in response.json()["error"]["message"]
        _namespace(http, repo, "fine")
