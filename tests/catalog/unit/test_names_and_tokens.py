"""Catalog logic that needs no server: names, warehouses, pointers, paging, tokens, routing."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vxp.catalog.app import RawPathRouting
from vxp.catalog.auth import Caller, TokenService
from vxp.catalog.errors import BadRequest, NotAuthorized
from vxp.catalog.metadata import MetadataFiles
from vxp.catalog.refs import Warehouse, parse_warehouse
from vxp.catalog.routes.paging import page
from vxp.catalog.settings import Settings, SettingsError
from vxp.catalog.state import validate_name
from vxp.core.layout import Pointer, decode_level, encode_level, namespace_marker, table_pointer


@pytest.mark.parametrize("name", ["basel", "a/b", "50%", ".hidden", "..x", "ü ñ", "a.b"])
def test_levels_round_trip_as_one_segment(name: str) -> None:
    encoded = encode_level(name)
    assert "/" not in encoded and not encoded.startswith(".")
    assert decode_level(encoded) == name


def test_layout() -> None:
    assert namespace_marker(("a", "b/c")) == "_vxp/catalog/namespaces/a/b%2Fc/.namespace.json"
    assert table_pointer(("a",), ".t") == "_vxp/catalog/tables/a/%2Et.json"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        (".", "traversal"),
        ("..", "traversal"),
        ("a\nb", "control"),
        ("x" * 300, "too long"),
    ],
)
def test_rejected_names(name: str, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        validate_name("table", name)


def test_warehouses() -> None:
    assert parse_warehouse("clinical") == Warehouse("clinical", None)
    assert parse_warehouse("clinical.v1.0") == Warehouse("clinical", "v1.0")
    assert Warehouse("clinical", None).locate(("integration", "basel")).ref == "integration"
    assert Warehouse("clinical", "main").locate(("basel",)).namespace == ("basel",)
    for bad in ("Clinical", "ab", "repo.", "re_po"):
        with pytest.raises(BadRequest):
            parse_warehouse(bad)
    with pytest.raises(BadRequest, match="repository-scoped"):
        Warehouse("clinical").locate(())


def test_pointer_round_trip() -> None:
    pointer = Pointer("s3://w/t/metadata/00001-x.metadata.json", "s3://w/t/metadata/00000-y.json")
    assert Pointer.from_bytes(pointer.to_bytes()) == pointer


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "Expecting value"),
        (b'{"metadata-location": "\xff"}', "utf-8"),
        (b"null", "not a JSON object but null"),
        (b"[1, 2]", "not a JSON object but an array"),
        (b"{}", "no 'metadata-location'"),
        (b'{"metadata-location": 5}', "'metadata-location' is a number, not a string"),
        (b'{"metadata-location": true}', "'metadata-location' is a boolean, not a string"),
        (
            b'{"metadata-location": "s3://w/m.json", "previous-metadata-location": {}}',
            "'previous-metadata-location' is an object, not a string",
        ),
    ],
)
def test_a_malformed_pointer_is_one_value_error_that_says_why(raw: bytes, reason: str) -> None:
    # anyone who can write a branch can plant a pointer: its readers catch ValueError alone
    with pytest.raises(ValueError, match=reason):
        Pointer.from_bytes(raw)


def test_paging() -> None:
    names = ["a", "b", "c", "d", "e"]
    assert page(iter(names), None, 2) == (names, None)
    assert page(iter(names), "", 2) == (["a", "b"], "b")
    assert page(iter(names[2:]), "b", 3) == (["c", "d", "e"], None)


def test_metadata_locations() -> None:
    first = MetadataFiles.new_metadata_location("file:///w/t", None)
    assert first.startswith("file:///w/t/metadata/00000-")
    second = MetadataFiles.new_metadata_location("file:///w/t", first)
    assert second.startswith("file:///w/t/metadata/00001-") and second != first


def test_location_must_stay_under_root() -> None:
    files = MetadataFiles(Settings("http://x", "file:///w", "k"))
    files.check_location("file:///w/repo/t", "location")
    for bad in ("file:///etc/passwd", "file:///w/../etc", "file:///wx/t"):
        with pytest.raises(BadRequest, match="outside the warehouse root"):
            files.check_location(bad, "location")


def test_settings_validation() -> None:
    with pytest.raises(SettingsError, match="S3 settings"):
        Settings("http://x", "s3://bucket", "k")
    with pytest.raises(SettingsError):
        Settings.from_env({})


def test_tokens() -> None:
    tokens = TokenService("secret", ttl_seconds=60)
    caller = Caller("AKIA", "s3cr3t", "ana")
    token = tokens.issue(caller)
    assert "s3cr3t" not in token
    assert tokens.verify(token) == caller
    with pytest.raises(NotAuthorized, match="not valid"):
        TokenService("other", 60).verify(token)
    expired = TokenService("secret", ttl_seconds=1)
    old = expired._fernet.encrypt_at_time(b'{"k":"a","s":"b","u":"c"}', int(time.time()) - 10)
    with pytest.raises(NotAuthorized, match="expired"):
        expired.verify(old.decode())


def test_encoded_slash_stays_in_its_parameter() -> None:
    app = FastAPI()

    @app.get("/t/{name}/x")
    def route(name: str) -> dict[str, str]:
        return {"name": name}

    app.add_middleware(RawPathRouting)
    response = TestClient(app).get("/t/a%2Fb%25c/x")
    assert response.status_code == 200
    assert decode_level(response.json()["name"]) == "a/b%c"
