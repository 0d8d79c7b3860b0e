"""Fixtures for catalog tests: an embedded stack for lakeFS, and one in-process catalog server
per session (the app under test, with settings of the tests' own).

Every test gets its own lakeFS repository, so tests never see each other's tables.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from pyiceberg.catalog import Catalog

from tests.support import Stack, started
from vxp.catalog.app import create_app
from vxp.catalog.settings import Settings
from vxp.domain.engines.common import CatalogAccess
from vxp.services.ports import free_port

_repo_numbers = itertools.count(1)


@dataclass(frozen=True)
class LakeFSServer:
    url: str
    access_key_id: str
    secret_access_key: str

    def client(self) -> httpx.Client:
        """An admin client for what tests do behind the catalog's back (branches, merges, tags),
        on lakeFS's own HTTP API: the checks see exactly what lakeFS answers, not vxp's view."""
        return httpx.Client(
            base_url=self.url + "/api/v1",
            auth=(self.access_key_id, self.secret_access_key),
            timeout=30,
        )


@dataclass(frozen=True)
class CatalogServer:
    url: str
    settings: Settings
    lakefs: LakeFSServer

    @property
    def warehouse_dir(self) -> Path:
        return Path(self.settings.warehouse_root.removeprefix("file://"))

    @property
    def allowed_dir(self) -> Path:
        """Outside the warehouse root, where clients may still put tables and views."""
        return Path(self.settings.allowed_locations[0].removeprefix("file://"))

    def token(self) -> str:
        response = httpx.post(
            f"{self.url}/v1/oauth/tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": self.lakefs.access_key_id,
                "client_secret": self.lakefs.secret_access_key,
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def http(self) -> httpx.Client:
        """A raw REST client with a valid bearer token."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30
        )

    def pyiceberg(self, warehouse: str) -> Catalog:
        access = CatalogAccess(self.url, self.lakefs.access_key_id, self.lakefs.secret_access_key)
        return access.pyiceberg(warehouse)

    def trial(self, repo: str, *, scoped: bool = False) -> Catalog:
        """pyiceberg after creating namespace ``trial`` on ``repo``'s main branch: on warehouse
        ``<repo>.main``, or with ``scoped`` on ``<repo>``, where the ref is the first level."""
        cat = self.pyiceberg(repo if scoped else f"{repo}.main")
        cat.create_namespace(("main", "trial") if scoped else "trial")
        return cat


@pytest.fixture(scope="session")
def catalog_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An embedded stack (``vxp up``) of the catalog tests' own.

    Not the session's shared one: gc marks every repository of a lakeFS installation, so the
    tables other tests write through the stack's catalog (under another warehouse root) would
    make it refuse to run, as it must.
    """
    with started(tmp_path_factory.mktemp("vxp-catalog-tests"), "embedded") as stack:
        yield stack


@pytest.fixture(scope="session")
def lakefs_server(catalog_stack: Stack) -> LakeFSServer:
    """The lakeFS of the catalog tests' stack, with the installation's keys."""
    settings = catalog_stack.settings
    return LakeFSServer(
        url=settings.lakefs_endpoint,
        access_key_id=settings.lakefs_access_key_id,
        secret_access_key=settings.lakefs_secret_access_key.reveal(),
    )


@pytest.fixture(scope="session")
def catalog_server(
    lakefs_server: LakeFSServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CatalogServer]:
    """An in-process catalog app with settings of the tests' own: its warehouse is not the
    stack catalog's, so sweeping it (gc tests) never touches another test's files."""
    root = tmp_path_factory.mktemp("catalog")
    warehouse = root / "warehouse"
    warehouse.mkdir()
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    settings = Settings(
        lakefs_endpoint=lakefs_server.url,
        warehouse_root=f"file://{warehouse}",
        token_secret="catalog-test-secret",  # noqa: S106 - a throwaway test key
        allowed_locations=(f"file://{elsewhere}",),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="catalog-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the catalog server did not start")
        time.sleep(0.01)
    yield CatalogServer(url=f"http://127.0.0.1:{port}", settings=settings, lakefs=lakefs_server)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def repo(lakefs_server: LakeFSServer) -> str:
    """A fresh lakeFS repository with an initial commit on ``main``."""
    name = f"cat{next(_repo_numbers):04d}"
    with lakefs_server.client() as client:
        response = client.post(
            "/repositories",
            json={"name": name, "storage_namespace": f"local://{name}", "default_branch": "main"},
        )
        response.raise_for_status()
    return name


class Admin:
    """lakeFS operations tests perform directly, as a user would with ``vxp branch`` / ``merge``."""

    def __init__(self, server: LakeFSServer, repo: str) -> None:
        self.repo = repo
        self.client = server.client()

    def branch(self, name: str, source: str = "main") -> None:
        self.client.post(
            f"/repositories/{self.repo}/branches", json={"name": name, "source": source}
        ).raise_for_status()

    def head(self, branch: str = "main") -> str:
        response = self.client.get(f"/repositories/{self.repo}/branches/{branch}")
        response.raise_for_status()
        return str(response.json()["commit_id"])

    def tag(self, name: str, ref: str) -> None:
        self.client.post(
            f"/repositories/{self.repo}/tags", json={"id": name, "ref": ref}
        ).raise_for_status()

    def merge(self, source: str, destination: str) -> httpx.Response:
        return self.client.post(
            f"/repositories/{self.repo}/refs/{source}/merge/{destination}",
            json={"message": f"merge {source} into {destination}"},
        )

    def log(self, branch: str = "main", amount: int = 50) -> list[dict[str, object]]:
        response = self.client.get(
            f"/repositories/{self.repo}/refs/{branch}/commits", params={"amount": amount}
        )
        response.raise_for_status()
        return list(response.json()["results"])

    def branches(self) -> list[str]:
        response = self.client.get(f"/repositories/{self.repo}/branches", params={"amount": 1000})
        response.raise_for_status()
        return [str(b["id"]) for b in response.json()["results"]]


@pytest.fixture
def admin(lakefs_server: LakeFSServer, repo: str) -> Iterator[Admin]:
    helper = Admin(lakefs_server, repo)
    yield helper
    helper.client.close()
