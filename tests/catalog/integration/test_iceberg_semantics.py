"""Table behaviour Iceberg's Java client relies on (what the REST Compatibility Kit checks),
over raw REST: messages, missing files, format versions, metadata log trimming, locations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.catalog.conftest import CatalogServer

# what every new table carries: Java's persisted create default, and vxp's gc.enabled=false
CREATE_DEFAULTS = {"write.parquet.compression-codec": "zstd", "gc.enabled": "false"}
SCHEMA: dict[str, Any] = {
    "type": "struct",
    "schema-id": 0,
    "fields": [{"id": 1, "name": "c", "required": True, "type": "int"}],
}


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["type"], body["message"]


@pytest.fixture
def http(catalog_server: CatalogServer) -> Iterator[httpx.Client]:
    with catalog_server.http() as client:
        yield client


@pytest.fixture
def tables(http: httpx.Client, repo: str) -> str:
    """The tables of namespace ``ns`` on ``repo``'s main branch, created for the test."""
    base = f"/v1/{repo}.main"
    http.post(f"{base}/namespaces", json={"namespace": ["ns"]}).raise_for_status()
    return f"{base}/namespaces/ns/tables"


def test_missing_names_answer_as_iceberg_does(http: httpx.Client, tables: str, repo: str) -> None:
    # a missing namespace is a missing table: clients fall back on metadata tables after it
    assert error(http.get(f"/v1/{repo}.main/namespaces/nope/tables/t")) == (
        404,
        "NoSuchTableException",
        "Table does not exist: nope.t",
    )
    assert error(http.get(f"/v1/{repo}.main/namespaces/nope")) == (
        404,
        "NoSuchNamespaceException",
        "Namespace does not exist: nope",
    )
    http.post(tables, json={"name": "t", "schema": SCHEMA}).raise_for_status()
    assert error(http.post(tables, json={"name": "t", "schema": SCHEMA})) == (
        409,
        "AlreadyExistsException",
        "Table already exists: ns.t",
    )


def test_a_vanished_metadata_file_is_not_served_from_memory(
    http: httpx.Client, tables: str
) -> None:
    created = http.post(tables, json={"name": "t", "schema": SCHEMA}).json()
    path = Path(urlsplit(created["metadata-location"]).path)
    moved = path.with_suffix(".moved")
    path.rename(moved)
    try:
        assert error(http.get(f"{tables}/t")) == (
            404,
            "NotFoundException",
            f"Failed to open input stream for file: {created['metadata-location']}",
        )
    finally:
        moved.rename(path)
    assert http.get(f"{tables}/t").status_code == 200


def test_format_versions_and_reserved_properties(http: httpx.Client, tables: str) -> None:
    schema = {**SCHEMA, "fields": [{**SCHEMA["fields"][0], "initial-default": 12}]}
    body = {"name": "v3", "schema": schema, "properties": {"format-version": "3", "k": "v"}}
    created = http.post(tables, json=body)
    assert created.status_code == 200, created.text
    meta = http.get(f"{tables}/v3").json()["metadata"]
    assert meta["format-version"] == 3 and meta["next-row-id"] == 0
    assert meta["properties"] == {"k": "v", **CREATE_DEFAULTS}
    assert meta["schemas"][0]["fields"][0]["initial-default"] == 12
    old = {"name": "v2", "schema": schema}
    status, type_, message = error(http.post(tables, json=old))
    assert (status, type_) == (400, "IllegalArgumentException")
    assert "not supported until v3" in message


def test_metadata_log_is_trimmed_and_old_files_stay(http: httpx.Client, tables: str) -> None:
    created = http.post(tables, json={"name": "t", "schema": SCHEMA}).json()
    uuid = created["metadata"]["table-uuid"]
    properties = {
        "write.metadata.previous-versions-max": "2",
        "write.metadata.delete-after-commit.enabled": "true",
    }
    locations = [created["metadata-location"]]
    for step in range(4):
        change: dict[str, Any] = {
            "requirements": [{"type": "assert-table-uuid", "uuid": uuid}],
            "updates": [{"action": "set-properties", "updates": {**properties, "s": str(step)}}],
        }
        committed = http.post(f"{tables}/t", json=change)
        assert committed.status_code == 200, committed.text
        locations.append(committed.json()["metadata-location"])
    log = committed.json()["metadata"]["metadata-log"]
    assert [entry["metadata-file"] for entry in log] == locations[-3:-1]
    # trimmed from the log, never deleted: older lakeFS commits' pointers still name them
    for location in locations:
        assert Path(urlsplit(location).path).is_file()


def test_requested_locations_stay_inside_the_allowed_ones(
    catalog_server: CatalogServer, repo: str, http: httpx.Client, tables: str
) -> None:
    elsewhere = {"name": "t", "schema": SCHEMA, "location": "file:/etc/t"}
    status, type_, message = error(http.post(tables, json=elsewhere))
    assert (status, type_) == (400, "BadRequestException")
    assert "outside the warehouse root" in message
    inside = f"{catalog_server.settings.warehouse_root}/{repo}/chosen"
    body = {"name": "t", "schema": SCHEMA, "location": inside}
    assert http.post(tables, json=body).json()["metadata"]["location"] == inside
    stage = {"name": "s", "schema": SCHEMA, "stage-create": True}
    staged = http.post(tables, json=stage).json()
    assert staged["metadata-location"] is None
    # an object even when only the create defaults are there
    assert json.dumps(staged["metadata"]["properties"]) == json.dumps(CREATE_DEFAULTS)
    assert http.head(f"{tables}/s").status_code == 404
