"""A pointer planted in a ref (anyone who can write a branch can) never makes the catalog read,
or hand out, a file outside the warehouse: issue "Catalog security", first finding."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.catalog.conftest import Admin, CatalogServer


def _plant(admin: Admin, branch: str, metadata_location: str) -> None:
    objects = f"/repositories/{admin.repo}/branches/{branch}/objects"
    for path, body in (
        ("_vxp/catalog/namespaces/evil/.namespace.json", {"properties": {}}),
        ("_vxp/catalog/tables/evil/passwd.json", {"metadata-location": metadata_location}),
    ):
        admin.client.post(
            objects, params={"path": path}, content=json.dumps(body).encode()
        ).raise_for_status()
    admin.client.post(
        f"/repositories/{admin.repo}/branches/{branch}/commits", json={"message": "plant"}
    ).raise_for_status()


@pytest.fixture(autouse=True)
def _remove_planted(admin: Admin) -> Iterator[None]:
    """Delete the planted branch afterwards: `vxp gc` runs over the whole installation and
    refuses to run while a pointer names a location outside the warehouse."""
    yield
    admin.client.delete(f"/repositories/{admin.repo}/branches/evil-work")


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "file:///proc/self/environ",
        "s3://other-bucket/metadata/00000-x.metadata.json",
    ],
)
def test_a_pointer_outside_the_warehouse_is_refused(
    catalog_server: CatalogServer, repo: str, admin: Admin, location: str
) -> None:
    admin.branch("evil-work")
    _plant(admin, "evil-work", location)
    with catalog_server.http() as http:
        response = http.get(f"/v1/{repo}.evil-work/namespaces/evil/tables/passwd")
    assert response.status_code == 400, response.text
    assert "outside the warehouse" in response.json()["error"]["message"]
    assert "root:" not in response.text


def test_a_file_in_the_warehouse_that_is_not_metadata_is_not_handed_out(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    planted = catalog_server.warehouse_dir / repo / "not-metadata.json"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text('{"secret": "value"}')
    admin.branch("evil-work")
    _plant(admin, "evil-work", planted.as_uri())
    with catalog_server.http() as http:
        response = http.get(f"/v1/{repo}.evil-work/namespaces/evil/tables/passwd")
    assert response.status_code == 400, response.text
    assert "value" not in response.text


def test_a_control_character_in_a_location_is_refused(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    admin.branch("evil-work")
    location = catalog_server.settings.warehouse_root + "/x\n.metadata.json"
    _plant(admin, "evil-work", location)
    with catalog_server.http() as http:
        response: httpx.Response = http.get(f"/v1/{repo}.evil-work/namespaces/evil/tables/passwd")
    assert response.status_code == 400, response.text
    assert "control characters" in response.json()["error"]["message"]
