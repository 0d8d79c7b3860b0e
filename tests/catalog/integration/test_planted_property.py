"""Property: whatever a ref's pointer or a warehouse metadata file holds, the catalog neither reads
nor writes a file outside the warehouse (and its allowed locations), and never answers 5xx.

Issue "Catalog security", deliverable 9. Anyone who can write a branch can plant a pointer, and
anyone with the warehouse's storage keys can plant a metadata file; hypothesis generates both:
locations that climb out of the warehouse (``..``, ``%2e``, ``file:`` spellings, other schemes,
control characters), malformed pointer JSON, and metadata whose ``location`` or
``write.metadata.path`` lies elsewhere. Each example loads the table and commits to it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.catalog.conftest import Admin, CatalogServer

BAIT = "BAIT-7f3c91e2"  # in every file outside the warehouse: never in an answer
_numbers = itertools.count(1)


@pytest.fixture
def outside(catalog_server: CatalogServer) -> Iterator[Path]:
    """A folder beside the warehouse, holding valid-looking metadata files as bait."""
    folder = catalog_server.warehouse_dir.parent / "outside"
    folder.mkdir(exist_ok=True)
    for name in ("00000-bait.metadata.json", "bait.json"):
        (folder / name).write_text(
            json.dumps({"format-version": 2, "location": str(folder), "bait": BAIT})
        )
    yield folder


@pytest.fixture
def base_metadata(catalog_server: CatalogServer, repo: str) -> dict[str, Any]:
    """A real table's metadata document, to plant altered copies of."""
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.base", schema=pa.schema([("x", pa.int64())]))
    location = table.metadata_location
    path = Path(location.removeprefix("file://"))
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _locations(server: CatalogServer, outside: Path) -> st.SearchStrategy[str]:
    root = server.settings.warehouse_root
    heads = st.sampled_from(
        [
            root,
            root + "/..",
            root + "/%2e%2e",
            root + "/./",
            root + "/../outside",
            root + "x",  # a sibling whose name starts like the root
            outside.as_uri(),
            "file:" + str(outside),
            "file://localhost" + str(outside),
            "file://otherhost" + str(outside),
            "file:///etc/passwd",
            "file:///proc/self/environ",
            "s3://other-bucket/m",
            "http://169.254.169.254/latest",
            "gs://bucket/x",
            "metadata/relative.json",
            "",
        ]
    )
    tails = st.text(
        alphabet=st.sampled_from(["/", ".", "%", "2", "e", "a", "\x00", "\n", "é", "\\", ":"]),
        max_size=12,
    )
    ends = st.sampled_from(["", "/00000-bait.metadata.json", "/bait.json", ".metadata.json"])
    return st.builds(lambda h, t, e: h + t + e, heads, tails, ends)


def _plant(admin: Admin, branch: str, pointer: bytes) -> None:
    objects = f"/repositories/{admin.repo}/branches/{branch}/objects"
    for path, body in (
        ("_vxp/catalog/namespaces/evil/.namespace.json", b'{"properties": {}}'),
        ("_vxp/catalog/tables/evil/t.json", pointer),
    ):
        admin.client.post(objects, params={"path": path}, content=body).raise_for_status()
    admin.client.post(
        f"/repositories/{admin.repo}/branches/{branch}/commits", json={"message": "plant"}
    ).raise_for_status()


def _outside_files(server: CatalogServer) -> dict[str, bytes]:
    """Every file beside the warehouse and the allowed location (the bait, and anything a
    location such as ``<root>x/…`` or ``<root>/../…`` would create)."""
    kept = (server.warehouse_dir, server.allowed_dir)
    return {
        str(p): p.read_bytes()
        for p in sorted(server.warehouse_dir.parent.rglob("*"))
        if p.is_file() and not any(p.is_relative_to(k) for k in kept)
    }


def _check(response: httpx.Response, server: CatalogServer) -> None:
    assert response.status_code < 500, response.text
    assert BAIT not in response.text
    if response.status_code == 200 and "metadata-location" in response.text:
        location = response.json()["metadata-location"]
        allowed = (server.settings.warehouse_root, *server.settings.allowed_locations)
        assert location.startswith(tuple(prefix + "/" for prefix in allowed)), location
        assert "/../" not in location


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_planted_pointers_and_metadata_never_leave_the_warehouse(
    catalog_server: CatalogServer,
    admin: Admin,
    outside: Path,
    base_metadata: dict[str, Any],
    data: st.DataObject,
) -> None:
    locations = _locations(catalog_server, outside)
    kind = data.draw(st.sampled_from(["pointer", "metadata", "garbage"]), label="kind")
    if kind == "pointer":
        pointer = json.dumps({"metadata-location": data.draw(locations, label="pointer")}).encode()
    elif kind == "garbage":
        pointer = data.draw(
            st.one_of(
                st.binary(max_size=40),
                st.sampled_from([b"[]", b"null", b'{"metadata-location": 7}', b"{}"]).map(bytes),
                st.builds(
                    lambda v: json.dumps({"metadata-location": v}).encode(),
                    st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=2)),
                ),
            ),
            label="garbage",
        )
    else:
        # a metadata file inside the warehouse (as anyone with the storage keys can write one)
        # whose own locations point anywhere
        document = dict(base_metadata)
        document["location"] = data.draw(locations, label="location")
        properties = dict(document.get("properties") or {})
        if data.draw(st.booleans(), label="with metadata path"):
            properties["write.metadata.path"] = data.draw(locations, label="metadata path")
        document["properties"] = properties
        planted = (
            catalog_server.warehouse_dir
            / admin.repo
            / "planted"
            / f"{next(_numbers):05d}-p.metadata.json"
        )
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text(json.dumps(document))
        pointer = json.dumps({"metadata-location": planted.as_uri()}).encode()
    branch = f"evil-{next(_numbers)}"
    admin.branch(branch)
    try:
        _plant(admin, branch, pointer)
        _exercise(catalog_server, admin, branch, data.draw(locations, label="register"))
    finally:
        # a deleted branch's commits are not retained: the planted pointers never reach other
        # tests' gc runs, which mark every repository of the installation
        admin.client.delete(f"/repositories/{admin.repo}/branches/{branch}").raise_for_status()


def _exercise(catalog_server: CatalogServer, admin: Admin, branch: str, register: str) -> None:
    """Load, commit to and register beside the planted table; nothing may leave the warehouse."""
    before = _outside_files(catalog_server)
    with catalog_server.http() as http:
        base = f"/v1/{admin.repo}.{branch}/namespaces/evil/tables/t"
        _check(http.get(base), catalog_server)
        commit = {
            "requirements": [],
            "updates": [{"action": "set-properties", "updates": {"k": "v"}}],
        }
        _check(http.post(base, json=commit), catalog_server)
        _check(
            http.post(
                f"/v1/{admin.repo}.{branch}/namespaces/evil/register",
                json={"name": "r", "metadata-location": register},
            ),
            catalog_server,
        )
    assert _outside_files(catalog_server) == before
