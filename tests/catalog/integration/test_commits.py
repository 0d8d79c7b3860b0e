"""The commit protocol: concurrency, multi-table transactions, read-only refs, bad input, auth."""

from __future__ import annotations

import threading

import httpx
import pyarrow as pa
import pytest
from pyiceberg.exceptions import BadRequestError, CommitFailedException, ForbiddenError

from tests.catalog.conftest import Admin, CatalogServer

ARROW = pa.schema([("id", pa.int64())])


def test_concurrent_appends_lose_no_update(catalog_server: CatalogServer, repo: str) -> None:
    setup = catalog_server.trial(repo)
    setup.create_table("trial.t", schema=ARROW)
    writers, appends_each = 4, 3
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            cat = catalog_server.pyiceberg(f"{repo}.main")
            for i in range(appends_each):
                while True:
                    table = cat.load_table("trial.t")
                    try:
                        table.append(pa.table({"id": [number * 100 + i]}, schema=ARROW))
                        break
                    except CommitFailedException:
                        continue  # lost a race: reload and retry
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    table = setup.load_table("trial.t")
    assert table.scan().to_arrow().num_rows == writers * appends_each
    assert len(table.snapshots()) == writers * appends_each


def _table_state(http: httpx.Client, path: str) -> dict[str, object]:
    response = http.get(path)
    response.raise_for_status()
    metadata: dict[str, object] = response.json()["metadata"]
    return metadata


def test_transaction_is_all_or_nothing(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    cat = catalog_server.trial(repo)
    cat.create_table("trial.a", schema=ARROW)
    cat.create_table("trial.b", schema=ARROW)
    base = f"/v1/{repo}.main"
    with catalog_server.http() as http:
        a = _table_state(http, f"{base}/namespaces/trial/tables/a")
        b = _table_state(http, f"{base}/namespaces/trial/tables/b")
        head = admin.head()

        def change(name: str, uuid: object, schema_id: int) -> dict[str, object]:
            return {
                "identifier": {"namespace": ["trial"], "name": name},
                "requirements": [
                    {"type": "assert-table-uuid", "uuid": uuid},
                    {"type": "assert-current-schema-id", "current-schema-id": schema_id},
                ],
                "updates": [{"action": "set-properties", "updates": {"owner": "ana"}}],
            }

        failing = {
            "table-changes": [change("a", a["table-uuid"], 0), change("b", b["table-uuid"], 7)]
        }
        response = http.post(f"{base}/transactions/commit", json=failing)
        assert response.status_code == 409
        assert response.json()["error"]["type"] == "CommitFailedException"
        assert admin.head() == head
        properties = _table_state(http, f"{base}/namespaces/trial/tables/a")["properties"]
        assert isinstance(properties, dict) and "owner" not in properties

        passing = {
            "table-changes": [change("a", a["table-uuid"], 0), change("b", b["table-uuid"], 0)]
        }
        assert http.post(f"{base}/transactions/commit", json=passing).status_code == 204
    [commit] = [c for c in admin.log() if c["id"] != head][:1]
    assert commit["parents"] == [head]  # one lakeFS commit for the whole transaction
    assert commit["metadata"]["vxp.catalog.tables"] == "trial.a, trial.b"  # type: ignore[index]
    for name in ("a", "b"):
        assert cat.load_table(f"trial.{name}").properties["owner"] == "ana"


def test_writes_to_tags_and_commits_are_refused(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    cat = catalog_server.trial(repo)
    cat.create_table("trial.t", schema=ARROW)
    admin.tag("v1", "main")
    frozen = catalog_server.pyiceberg(f"{repo}.v1")
    with pytest.raises(ForbiddenError, match="'v1' is a tag; tags are read-only"):
        frozen.load_table("trial.t").append(pa.table({"id": [1]}, schema=ARROW))
    with pytest.raises(ForbiddenError, match="tags are read-only"):
        frozen.create_namespace("other")
    by_commit = catalog_server.pyiceberg(repo)
    with pytest.raises(ForbiddenError, match="commits are read-only"):
        by_commit.create_table((admin.head(), "trial", "u"), schema=ARROW)
    assert cat.list_tables("trial") == [("trial", "t")]


def test_writes_to_protected_branch_go_through_merge(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    admin.client.put(
        f"/repositories/{repo}/settings/branch_protection", json=[{"pattern": "main"}]
    ).raise_for_status()
    cat = catalog_server.trial(repo)
    cat.create_table("trial.t", schema=ARROW).append(pa.table({"id": [1]}, schema=ARROW))
    assert cat.load_table("trial.t").scan().to_arrow().num_rows == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"namespace": [".."]}, "path traversal"),
        ({"namespace": ["trial", "."]}, "path traversal"),
        ({"namespace": ["trial", ""]}, "must not be empty"),
        ({"namespace": ["bad\x00name"]}, "control characters"),
    ],
)
def test_bad_namespace_names_are_400(
    catalog_server: CatalogServer, repo: str, body: dict[str, object], fragment: str
) -> None:
    with catalog_server.http() as http:
        response = http.post(f"/v1/{repo}.main/namespaces", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BadRequestException"
    assert fragment in response.json()["error"]["message"]


def test_bad_table_names_are_400(catalog_server: CatalogServer, repo: str) -> None:
    cat = catalog_server.trial(repo)
    with pytest.raises(BadRequestError, match="must not be empty"):
        cat.create_table("trial..", schema=ARROW)  # parsed as namespace ("trial", ""), table ""
    with pytest.raises(BadRequestError, match="path traversal"):
        cat.create_table(("trial", ".."), schema=ARROW)
    with catalog_server.http() as http:
        for path in ("namespaces/%2E%2E/tables/t", "namespaces/trial/tables/%2E%2E"):
            response = http.get(f"/v1/{repo}.main/{path}")
            assert response.status_code == 400, path
    # an encoded slash is just a character of the name, not a path separator
    cat.create_table(("trial", "a/b"), schema=ARROW)
    assert cat.load_table(("trial", "a/b")).name() == ("trial", "a/b")
    assert cat.list_tables("trial") == [("trial", "a/b")]


def test_authentication(catalog_server: CatalogServer, repo: str) -> None:
    url = catalog_server.url
    unauthenticated = httpx.get(f"{url}/v1/config", params={"warehouse": repo})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["type"] == "NotAuthorizedException"
    garbage = httpx.get(
        f"{url}/v1/{repo}.main/namespaces", headers={"Authorization": "Bearer nonsense"}
    )
    assert garbage.status_code == 401
    wrong = httpx.post(
        f"{url}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": "AKIAX", "client_secret": "no"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    token = catalog_server.token()
    refreshed = httpx.post(
        f"{url}/v1/oauth/tokens",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["token_type"] == "bearer"  # noqa: S105 - a token type
