"""Iceberg's per-session token exchange, as Trino's `iceberg.rest-catalog.session=USER` sends it:
the subject is the engine's unsigned JWT, the actor a token of this catalog."""

from __future__ import annotations

import base64
import json

import httpx

from tests.catalog.conftest import CatalogServer

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"


def _engine_jwt() -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'sub': 'vxp', 'iss': '476'})}."


def test_an_actor_token_of_ours_buys_a_session_token(
    catalog_server: CatalogServer, repo: str
) -> None:
    url = f"{catalog_server.url}/v1/oauth/tokens"
    actor = catalog_server.token()
    form = {
        "grant_type": EXCHANGE,
        "subject_token": _engine_jwt(),
        "subject_token_type": JWT,
        "actor_token": actor,
        "actor_token_type": ACCESS,
    }
    answer = httpx.post(url, data=form)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    config = httpx.get(
        f"{catalog_server.url}/v1/config",
        params={"warehouse": f"{repo}.main"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert config.status_code == 200, config.text
    # without a valid token of ours the engine's JWT buys nothing
    for actor_token in (None, "not-a-token", _engine_jwt()):
        refused = dict(form)
        if actor_token is None:
            del refused["actor_token"]
        else:
            refused["actor_token"] = actor_token
        answer = httpx.post(url, data=refused)
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_grant"
