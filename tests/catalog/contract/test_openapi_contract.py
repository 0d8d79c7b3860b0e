"""Contract tests generated from the Iceberg REST OpenAPI spec, run against the live catalog.

The property under test: no request the spec allows, and no malformed one, gets a 5xx; every
error answer carries the spec's ``IcebergErrorResponse`` body; and the operations the catalog
advertises in ``GET /v1/config`` answer with documented status codes, content types, headers
and response schemas, and enforce authentication.

schemathesis generates the requests with a fixed seed: the spec's examples, boundary "coverage"
cases (every missing field, wrong type, unexpected method and content type), then random positive
and negative fuzzing. The hand-written cases at the end cover malformations it does not produce
(path traversal, control characters, huge names, lone surrogates, broken JSON, bad tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario, TestPhase
from schemathesis.hooks import HookContext
from schemathesis.openapi.checks import JsonSchemaError, UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.catalog.conftest import CatalogServer
from vxp.catalog.routes.config import ENDPOINTS

# the repository's CI checks the shared specs out beside the repository
SPEC = Path(__file__).parents[3] / ".." / "shared" / "specs" / "iceberg-rest-catalog-open-api.yaml"
if not SPEC.is_file():
    pytest.skip(f"the Iceberg REST spec is not at {SPEC.resolve()}", allow_module_level=True)

pytestmark = pytest.mark.integration

REPO = "contract"
BRANCH = "main"
WAREHOUSE = f"{REPO}.{BRANCH}"
NAMESPACE = "ns"
TABLE = "tbl"
PINNED = {"prefix": WAREHOUSE, "namespace": NAMESPACE, "table": TABLE}
# "METHOD /path" labels of the operations the catalog serves: those it lists in its config's
# "endpoints", plus the two every catalog serves without listing them
SERVED = frozenset({*ENDPOINTS, "GET /v1/config", "POST /v1/oauth/tokens"})
# optional headers the catalog ignores by design: it advertises no idempotency-key lifetime, and
# the spec lets a server supply "any or none" of the requested access-delegation mechanisms
IGNORED_HEADERS = {"Idempotency-Key", "X-Iceberg-Access-Delegation"}

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240607,
        "generation": {
            "mode": "all",
            "max-examples": 25,
            "deterministic": True,
            # no example database: every run replays exactly the same seeded examples
            "database": "none",
            # the test sends a valid bearer token; ignored_auth and the hand-written cases
            # below check what happens without one
            "with-security-parameters": False,
            # servers ignore query parameters they do not know (forward compatibility), so an
            # unknown parameter is no malformed request
            "allow-extra-parameters": False,
        },
        "operations": [
            {
                # Unserved endpoints answer 404/405 before reading anything, so their thousands
                # of coverage cases would only re-test routing: a few fuzzed requests suffice.
                "exclude-name": sorted(SERVED),
                "phases": {"coverage": {"enabled": False}},
                "generation": {"max-examples": 5},
            },
            {
                # Coverage enumerates every variant of every nested schema, over a thousand
                # cases each here, repeating what is covered elsewhere: a transaction's changes
                # are commitTable's CommitTableRequests, and metrics reports are discarded after
                # a shallow check. Fuzzing still runs for both.
                "include-name": [
                    "POST /v1/{prefix}/transactions/commit",
                    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
                ],
                "phases": {"coverage": {"enabled": False}},
            },
        ],
    }
)
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)


def _mostly(value: str, generated: Any) -> st.SearchStrategy[Any]:
    """Three times in four the fixture's existing resource, otherwise what schemathesis drew:
    random names mostly end in 404s, which exercise little of the catalog."""
    return st.sampled_from([value, value, value, generated])


@schema.hook
def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: _mostly(PINNED[name], value) if name in PINNED else st.just(value)
            for name, value in path_parameters.items()
        }
    )


@schema.hook
def flatmap_query(
    context: HookContext, query: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    if not query or "warehouse" not in query:
        return st.just(query)
    return _mostly(WAREHOUSE, query["warehouse"]).map(lambda w: {**query, "warehouse": w})


def _aim_at_fixture(case: Case[Any]) -> None:
    """Point a coverage case's path at the fixture's table unless the case is about the path.

    Coverage cases are enumerated, not drawn, so the flatmap hooks never see them; left alone
    they all address warehouse "0", and every body and query variation would stop at 400
    "no such warehouse" before reaching the code it is meant to exercise.
    """
    meta = case.meta
    if meta is None or meta.phase.name is not TestPhase.COVERAGE or not case.path_parameters:
        return
    if meta.phase.data.parameter_location is ParameterLocation.PATH:
        return
    for name in case.path_parameters.keys() & PINNED.keys():
        case.path_parameters[name] = PINNED[name]


def _null_for_optional_property(case: Case[Any]) -> bool:
    """Whether a coverage case's only flaw is ``null`` for a top-level body property.

    The catalog's request models accept null only where the spec makes a property optional,
    and read it as absent, as Iceberg's reference parsers do (``hasNonNull``).
    """
    data = case.meta.phase.data if case.meta is not None else None
    if not isinstance(data, CoveragePhaseData) or data.scenario != CoverageScenario.INCORRECT_TYPE:
        return False
    # the schema pointer of a top-level property's type: /properties/<name>/type
    root, keyword, name, *rest = [*(data.location or "").split("/"), "", "", ""][:4]
    return (
        (root, keyword, rest) == ("", "properties", ["type"])
        and isinstance(case.body, dict)
        and name in case.body
        and case.body[name] is None
    )


def _mutated(case: Case[Any]) -> tuple[set[str], set[ParameterLocation]]:
    """Names and locations of what a negative case made invalid."""
    data = case.meta.phase.data if case.meta is not None else None
    parts = [data, *getattr(data, "mutations", ())]
    names = {p.parameter for p in parts if p is not None and p.parameter}
    locations = {p.parameter_location for p in parts if p is not None and p.parameter_location}
    return names, locations


@schema.hook
def filter_failure(
    context: HookContext, failure: Failure, case: Case[Any], response: Response
) -> bool:
    """Drop the failures that are gaps in the spec rather than bugs in the catalog; each
    exclusion says why. Everything else fails the test."""
    operation = f"{case.method.upper()} {case.operation.path}"
    status = response.status_code
    if isinstance(failure, AcceptedNegativeData):
        names, locations = _mutated(case)
        ignored_header = locations == {ParameterLocation.HEADER} and names <= IGNORED_HEADERS
        # Reports are discarded, so the catalog only checks that one is a JSON object with a
        # report-type (see catalog.models.ReportMetricsRequest), not ScanReport/CommitReport.
        discarded_report = operation.endswith("/metrics") and status == 204
        return not (ignored_header or discarded_report or _null_for_optional_property(case))
    if isinstance(failure, UndefinedStatusCode):
        # createNamespace documents no 404, yet a missing parent namespace must be reported
        # somehow; Iceberg's reference adapter maps NoSuchNamespaceException to 404 on every route
        return not (operation == "POST /v1/{prefix}/namespaces" and status == 404)
    if isinstance(failure, JsonSchemaError) and status >= 400:
        # The view operations declare their error bodies as a bare ErrorModel while their own
        # examples (and every other operation) wrap it as IcebergErrorResponse {"error": …};
        # error_body_is_iceberg_error holds every error body to the wrapped form instead.
        return not ("/views" in operation or "/register-view" in operation)
    return True


def _assert_iceberg_error(status: int, body: Any) -> None:
    error = body.get("error") if isinstance(body, dict) else None
    # 406: the spec's UnsupportedOperationResponse schema is a bare ErrorModel while its example
    # is an IcebergErrorResponse; the catalog answers both shapes at once (the bare one carries
    # the request id too)
    keys = {"error", "message", "type", "code", "request-id"} if status == 406 else {"error"}
    assert isinstance(error, dict) and set(body) == keys, f"no IcebergErrorResponse: {body}"
    assert isinstance(error.get("message"), str), f"error without a message: {body}"
    assert isinstance(error.get("type"), str), f"error without a type: {body}"
    assert error.get("code") == status, f"error code is not the HTTP status: {body}"


def error_body_is_iceberg_error(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """Every error answer is an IcebergErrorResponse whose code is the HTTP status.

    The token endpoint answers with OAuth2's own error shape; HEAD answers have no body.
    """
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return
    if case.operation.path == "/v1/oauth/tokens":
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {response.text[:200]!r}") from None
    _assert_iceberg_error(response.status_code, body)


# Not used: positive_data_acceptance. The spec's schemas cannot express the catalog's semantic
# rules (warehouse names, existing refs, Iceberg metadata invariants), so schema-valid requests
# rightly get 400, 404 or 409; not_a_server_error is the property that must hold for them.
ALWAYS = [not_a_server_error, error_body_is_iceberg_error, negative_data_rejection]
# only for served operations: an unserved endpoint answers 404 or 405, which its spec entry
# cannot document
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    ignored_auth,
]
# the operations that can make the fixture's namespace or table disappear
DESTRUCTIVE = {
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/tables/rename",
}
TABLE_REQUEST = {
    "name": TABLE,
    "schema": {
        "type": "struct",
        "schema-id": 0,
        "fields": [{"id": 1, "name": "id", "type": "long", "required": False}],
    },
}


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    http: httpx.Client

    def ensure_resources(self) -> None:
        """(Re)create the namespace and the table: generated drops and renames remove them."""
        base = f"/v1/{WAREHOUSE}/namespaces"
        if self.http.head(f"{base}/{NAMESPACE}/tables/{TABLE}").status_code == 204:
            return
        if self.http.head(f"{base}/{NAMESPACE}").status_code == 404:
            self.http.post(base, json={"namespace": [NAMESPACE]}).raise_for_status()
        self.http.post(f"{base}/{NAMESPACE}/tables", json=TABLE_REQUEST).raise_for_status()


@pytest.fixture(scope="module")
def target(catalog_server: CatalogServer) -> Iterator[Target]:
    """A lakeFS repository with a namespace and a table that generated requests can hit."""
    with catalog_server.lakefs.client() as client:
        client.post(
            "/repositories",
            json={"name": REPO, "storage_namespace": f"local://{REPO}", "default_branch": BRANCH},
        ).raise_for_status()
    with catalog_server.http() as http:
        token = http.headers["Authorization"].removeprefix("Bearer ")
        found = Target(catalog_server.url, token, http)
        found.ensure_resources()
        yield found


@schema.parametrize()
def test_generated_requests(case: Case[Any], target: Target) -> None:
    operation = f"{case.method.upper()} {case.operation.path}"
    _aim_at_fixture(case)
    response = case.call_and_validate(
        base_url=target.url,
        headers={"Authorization": f"Bearer {target.token}"},
        checks=ALWAYS + (CONFORMANCE if operation in SERVED else []),
    )
    if operation in DESTRUCTIVE and response.status_code < 300:
        target.ensure_resources()


W = f"/v1/{WAREHOUSE}"
JSON = {"content-type": "application/json"}
SCHEMA = TABLE_REQUEST["schema"]
HUGE = "x" * 20_000


def raw_post(path: str, content: bytes, id: str, headers: dict[str, str] = JSON) -> Any:
    """A case that POSTs ``content`` as it is, for bodies no JSON encoder would write."""
    return pytest.param("POST", path, {"content": content, "headers": headers}, id=id)


@pytest.mark.parametrize(
    ("method", "path", "request_args"),
    [
        # path traversal, sent percent-encoded because HTTP clients resolve a literal ".."
        pytest.param("GET", "/v1/%2E%2E/namespaces", {}, id="prefix-dotdot"),
        pytest.param("GET", "/v1/contract.%2E%2E/namespaces", {}, id="ref-dotdot"),
        pytest.param("GET", "/v1/config?warehouse=contract...", {}, id="config-ref-dotdot"),
        pytest.param("GET", f"{W}/namespaces/%2E%2E", {}, id="namespace-dotdot"),
        pytest.param("GET", f"{W}/namespaces/ns%1F%2E%2E%1Fx", {}, id="nested-dotdot"),
        pytest.param("GET", f"{W}/namespaces/ns/tables/%2E%2E", {}, id="table-dotdot"),
        pytest.param("GET", "/v1/contract/namespaces/%2E%2E%1Fns", {}, id="repo-scoped-dotdot"),
        pytest.param("POST", f"{W}/namespaces", {"json": {"namespace": [".."]}}, id="body-dotdot"),
        # refs lakeFS cannot parse or that do not exist
        pytest.param("GET", "/v1/contract.main@x/namespaces/ns", {}, id="ref-unparsable"),
        pytest.param("GET", "/v1/contract.a%25b/namespaces", {}, id="ref-percent"),
        pytest.param("GET", "/v1/contract.nope/namespaces", {}, id="ref-missing"),
        pytest.param("GET", "/v1/nope/namespaces", {}, id="repository-missing"),
        pytest.param(
            "POST",
            "/v1/contract/namespaces/main@x%1Fns/tables",
            {"json": {"name": "t", "schema": SCHEMA}},
            id="write-unparsable-ref",
        ),
        # control characters and separators
        pytest.param("GET", f"{W}/namespaces/a%00b", {}, id="namespace-nul"),
        pytest.param("GET", f"{W}/namespaces/ns/tables/a%0Ab", {}, id="table-newline"),
        pytest.param("GET", f"{W}/namespaces/a%1F%1Fb", {}, id="namespace-empty-level"),
        pytest.param("GET", f"{W}/namespaces?parent=%1F", {}, id="parent-empty-levels"),
        pytest.param("GET", f"{W}/namespaces/{'%1F'.join('a' * 20)}", {}, id="namespace-deep"),
        pytest.param("GET", "/v1/config?warehouse=contract.%00", {}, id="config-ref-nul"),
        pytest.param(
            "POST", f"{W}/namespaces", {"json": {"namespace": ["a\x1b[31m"]}}, id="body-escape"
        ),
        # huge names
        pytest.param("GET", f"{W}/namespaces/{HUGE}", {}, id="namespace-huge"),
        pytest.param("GET", f"{W}/namespaces/ns/tables/{HUGE}", {}, id="table-huge"),
        pytest.param(
            "POST",
            f"{W}/namespaces/ns/tables",
            {"json": {"name": HUGE, "schema": SCHEMA}},
            id="body-table-huge",
        ),
        pytest.param(
            "POST", f"{W}/namespaces", {"json": {"namespace": ["x" * 2_000_000]}}, id="body-2mb"
        ),
        # lone surrogates: valid JSON escapes that no UTF-8 path or response can hold
        raw_post(f"{W}/namespaces", b'{"namespace": ["\\ud800"]}', id="surrogate-namespace"),
        raw_post(
            f"{W}/namespaces/ns/properties",
            b'{"updates": {"k": "\\udfff"}}',
            id="surrogate-property",
        ),
        # broken bodies and content types
        raw_post(f"{W}/namespaces", b"{", id="json-cut"),
        raw_post(f"{W}/namespaces", b"", id="json-empty"),
        raw_post(f"{W}/namespaces", b"null", id="null"),
        raw_post(f"{W}/namespaces", b"[" * 100_000, id="deep"),
        raw_post(f"{W}/namespaces", b'{"namespace": ["\xff"]}', id="not-utf8"),
        raw_post(
            f"{W}/namespaces",
            b'{"namespace": ["plain"]}',
            id="text-plain",
            headers={"content-type": "text/plain"},
        ),
        pytest.param("POST", f"{W}/namespaces", {"data": {"namespace": "x"}}, id="form"),
        pytest.param(
            "POST",
            f"{W}/namespaces/ns/tables",
            {"json": {"name": "t", "schema": {"type": "struct", "fields": [{"id": 1}]}}},
            id="schema-incomplete",
        ),
        raw_post(f"{W}/namespaces/ns/tables/{TABLE}/metrics", b"\x00", id="metrics-garbage"),
        pytest.param(
            "POST",
            f"{W}/namespaces/ns/tables/{TABLE}",
            {"json": {"updates": [{"action": "no-such-update"}]}},
            id="unknown-update",
        ),
        # query parameters
        pytest.param("GET", f"{W}/namespaces?pageSize=-1", {}, id="page-size-negative"),
        pytest.param("GET", f"{W}/namespaces?pageSize=abc", {}, id="page-size-text"),
        pytest.param(
            "DELETE", f"{W}/namespaces/ns/tables/t?purgeRequested=maybe", {}, id="purge-text"
        ),
        pytest.param(
            "GET",
            f"{W}/namespaces/ns/tables/{TABLE}?snapshots=some",
            {},
            id="snapshots-not-in-enum",
        ),
        # authentication, routing
        pytest.param("GET", f"{W}/namespaces", {"headers": {"Authorization": ""}}, id="no-token"),
        pytest.param(
            "GET", f"{W}/namespaces", {"headers": {"Authorization": "Bearer x"}}, id="bad-token"
        ),
        pytest.param(
            "GET", f"{W}/namespaces", {"headers": {"Authorization": "Basic eDp5"}}, id="basic"
        ),
        pytest.param("PUT", f"{W}/namespaces/ns", {}, id="wrong-method"),
        pytest.param("GET", f"{W}/no-such-endpoint", {}, id="unknown-endpoint"),
    ],
)
def test_malformed_request_is_a_client_error(
    target: Target, method: str, path: str, request_args: dict[str, Any]
) -> None:
    response = target.http.request(method, path, **request_args)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    _assert_iceberg_error(response.status_code, response.json())


def test_big_page_size_is_capped(target: Target) -> None:
    response = target.http.get(f"{W}/namespaces", params={"pageSize": 10**40, "pageToken": ""})
    assert response.status_code == 200, response.text
    assert [NAMESPACE] in response.json()["namespaces"]


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(b"grant_type=\xff", id="not-utf8"),
        pytest.param(b"grant_type=client_credentials", id="no-credentials"),
        pytest.param(b"grant_type=password&username=a&password=b", id="unsupported-grant"),
        pytest.param(b"grant_type=client_credentials&client_id=a&client_secret=b", id="unknown"),
        pytest.param(b"%%%", id="garbage"),
    ],
)
def test_malformed_token_request_is_an_oauth_error(target: Target, form: bytes) -> None:
    """The token endpoint answers with OAuth2's error shape, not IcebergErrorResponse."""
    response = httpx.post(
        f"{target.url}/v1/oauth/tokens",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert isinstance(response.json()["error"], str), response.text


@pytest.mark.parametrize(
    "name", ["ünïcødé", "日本語", "🧪-emoji", "with space", "a/../b", ".hidden", "C1\u0085char"]
)
def test_unusual_but_valid_names_round_trip(target: Target, name: str) -> None:
    """Names that are odd but legal are stored and found again, never rejected with a 5xx."""
    namespaces = f"{W}/namespaces"
    created = target.http.post(namespaces, json={"namespace": [NAMESPACE, name]})
    assert created.status_code == 200, created.text
    tables = f"{namespaces}/{quote(NAMESPACE + chr(0x1F) + name, safe='')}/tables"
    table = target.http.post(tables, json={"name": name, "schema": SCHEMA})
    assert table.status_code == 200, table.text
    loaded = target.http.get(f"{tables}/{quote(name, safe='')}")
    assert loaded.status_code == 200, loaded.text
    listed = target.http.get(tables).json()["identifiers"]
    assert listed == [{"namespace": [NAMESPACE, name], "name": name}]
