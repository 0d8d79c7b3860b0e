"""The ``config`` engines get with a table or view names the S3 endpoint meant for clients.

In compose the catalog reaches MinIO at http://minio:9000, which no user's machine resolves, so
it hands engines ``VXP_CATALOG_S3_CLIENT_ENDPOINT`` instead while using its own endpoint itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.catalog.conftest import CatalogServer
from tests.catalog.integration.test_views import create_body
from vxp.catalog.app import create_app
from vxp.catalog.settings import S3Settings, Settings

SERVER_ENDPOINT = "http://minio:9000"
CLIENT_ENDPOINT = "http://vxp.example.org:9000"


@pytest.fixture
def client(catalog_server: CatalogServer) -> Iterator[TestClient]:
    # a file:// warehouse, so that the server's own (unreachable) S3 endpoint is never used
    settings = Settings(
        lakefs_endpoint=catalog_server.lakefs.url,
        warehouse_root=catalog_server.settings.warehouse_root,
        token_secret="client-config-test",  # noqa: S106 - a throwaway test key
        s3=S3Settings(SERVER_ENDPOINT, "id", "secret", client_endpoint=CLIENT_ENDPOINT),
    )
    with TestClient(create_app(settings)) as http:
        token = http.post(
            "/v1/oauth/tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": catalog_server.lakefs.access_key_id,
                "client_secret": catalog_server.lakefs.secret_access_key,
            },
        )
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


def test_tables_and_views_hand_engines_the_client_endpoint(client: TestClient, repo: str) -> None:
    base = f"/v1/{repo}.main"
    client.post(f"{base}/namespaces", json={"namespace": ["trial"]}).raise_for_status()
    schema = {
        "type": "struct",
        "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}],
    }
    answers = {
        "createTable": client.post(
            f"{base}/namespaces/trial/tables", json={"name": "t", "schema": schema}
        ),
        "loadTable": client.get(f"{base}/namespaces/trial/tables/t"),
        "createView": client.post(f"{base}/namespaces/trial/views", json=create_body("v")),
        "loadView": client.get(f"{base}/namespaces/trial/views/v"),
    }
    for what, answer in answers.items():
        assert answer.status_code == 200, f"{what}: {answer.text}"
        config = answer.json()["config"]
        assert config["s3.endpoint"] == CLIENT_ENDPOINT, what
        assert config["s3.access-key-id"] == "id", what
