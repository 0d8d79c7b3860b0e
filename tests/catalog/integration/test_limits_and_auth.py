"""Limits and auth before I/O: issue "Catalog security", findings 5 (request-body and property
size, register before lakeFS accepted the caller, refresh after the user is gone, a signed but
malformed token)."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.catalog.conftest import CatalogServer


def _token(server: CatalogServer, key: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": key, "client_secret": secret},
    )


def _refresh(server: CatalogServer, token: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/oauth/tokens",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )


def _forge(server: CatalogServer, payload: bytes) -> str:
    """A token signed with the test server's secret (as only the server could make one)."""
    secret = server.settings.token_secret
    return (
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))
        .encrypt(payload)
        .decode()
    )


def test_a_token_whose_key_lakefs_no_longer_accepts_is_refused_before_any_read(
    catalog_server: CatalogServer, repo: str
) -> None:
    """What a token of a deleted lakeFS user or key is: well-formed, signed, and unknown to
    lakeFS (lakeFS OSS has one user with one key pair, which the tests cannot delete)."""
    payload = {"k": "AKIAJGONEGONEGONEGON", "s": "gone" * 10, "u": "admin"}
    token = _forge(catalog_server, json.dumps(payload).encode())
    refreshed = _refresh(catalog_server, token)
    assert refreshed.status_code == 401, refreshed.text
    assert refreshed.json()["error"] == "invalid_grant"
    # register reads a warehouse file only after lakeFS accepted the caller: a missing file is
    # not a 404 (which would tell a rejected caller that it does not exist)
    missing = catalog_server.settings.warehouse_root + "/nothing-here/00000-x.metadata.json"
    with httpx.Client(
        base_url=catalog_server.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        response = http.post(
            f"/v1/{repo}.main/namespaces/ns/register",
            json={"name": "t", "metadata-location": missing},
        )
    assert response.status_code == 401, response.text
    assert "no longer accepts" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"k": "AKIA"}', b'{"k": 1, "s": 2, "u": 3}', b"null"],
    ids=["text", "list", "missing-keys", "wrong-types", "null"],
)
def test_a_signed_token_with_a_malformed_payload_is_a_401(
    catalog_server: CatalogServer, repo: str, payload: bytes
) -> None:
    forged = _forge(catalog_server, payload)
    response = httpx.get(
        f"{catalog_server.url}/v1/{repo}.main/namespaces",
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401, response.text
    assert _refresh(catalog_server, forged).status_code == 401


def test_a_50_mb_property_is_refused(catalog_server: CatalogServer, repo: str) -> None:
    body = json.dumps({"namespace": ["big"], "properties": {"p": "x" * (50 << 20)}})
    with catalog_server.http() as http:
        response = http.post(f"/v1/{repo}.main/namespaces", content=body)
    assert response.status_code == 413, response.text
    assert "VXP_CATALOG_MAX_REQUEST_BYTES" in response.json()["error"]["message"]


def test_properties_past_the_limit_are_all_named(catalog_server: CatalogServer, repo: str) -> None:
    big = "x" * (catalog_server.settings.max_property_bytes + 1)
    with catalog_server.http() as http:
        response = http.post(
            f"/v1/{repo}.main/namespaces",
            json={"namespace": ["big"], "properties": {"a": big, "ok": "1", "b": big}},
        )
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert "'a'" in message and "'b'" in message and "'ok'" not in message
        created = http.post(
            f"/v1/{repo}.main/namespaces", json={"namespace": ["big"], "properties": {"a": "1"}}
        )
        assert created.status_code == 200, created.text
        updated = http.post(
            f"/v1/{repo}.main/namespaces/big/properties", json={"updates": {"c": big}}
        )
        assert updated.status_code == 400, updated.text
