"""Real stacks for the benchmarks: a fresh ``VXP_HOME`` each, the shared (warm) binary cache."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from duckdb import DuckDBPyConnection
from pyiceberg.catalog import Catalog

from bench.core import Options
from vxp.core.home import Home
from vxp.core.names import DEFAULT_BRANCH
from vxp.core.settings import Settings
from vxp.domain import repositories
from vxp.domain.engines import duckdb as duck
from vxp.domain.engines.common import CatalogAccess
from vxp.lakefs import LakeFS, Session
from vxp.services.manager import ServiceManager
from vxp_client import PlatformClient


@dataclass(frozen=True)
class Running:
    """A started stack as a benchmark sees it.

    Attributes:
        manager: the stack's service manager (its home is a temporary directory).
        settings: the client settings ``vxp up`` wrote to ``$VXP_HOME/run/client.json``, read
            as a client on this machine reads them (no ``VXP_*`` variables involved).
        lakefs: a lakeFS session with the installation's key pair, over one connection pool that
            :func:`running` closes.
    """

    manager: ServiceManager
    settings: Settings
    lakefs: Session

    def create_repository(self, name: str) -> repositories.Repository:
        """Create repository ``name`` with its layer branches (as ``vxp repo create`` does)."""
        return repositories.create_repository(
            self.lakefs, name, self.settings.storage_namespace_prefix
        )

    def client(self, repository: str, ref: str = DEFAULT_BRANCH) -> PlatformClient:
        """A ``vxp_client.PlatformClient`` of ``repository`` pinned to ``ref``; close it after."""
        return PlatformClient(repository, ref, settings=self.settings)

    def catalog(self, warehouse: str) -> Catalog:
        """A new pyiceberg REST client (its own HTTP session and token) for ``warehouse``."""
        return CatalogAccess.from_settings(self.settings).pyiceberg(warehouse)

    def duckdb(self) -> DuckDBPyConnection:
        """An in-memory DuckDB with vxp's extensions loaded (nothing attached yet)."""
        return duck.connect(self.manager.home.cache)

    def attach(self, conn: DuckDBPyConnection, repository: str, ref: str) -> None:
        """Attach ``ref`` of ``repository`` through the vxp catalog to ``conn`` as ``lake``."""
        duck.attach(conn, self.settings, repository, ref)


def new_home(options: Options, stack: str) -> Home:
    root = Path(tempfile.mkdtemp(prefix=f"{stack}-", dir=options.workdir))
    return Home(root=root, cache=options.cache)


def remove_home(home: Home) -> None:
    """Delete a stopped stack's files, including PostgreSQL's, which as root live outside it."""
    postgres = home.data / "postgres"
    if postgres.is_symlink():
        shutil.rmtree(postgres.resolve(), ignore_errors=True)
    shutil.rmtree(home.root, ignore_errors=True)


@contextmanager
def running(options: Options, stack: str) -> Iterator[Running]:
    """Start ``stack`` in a fresh home; always stop it and remove its files afterwards."""
    home = new_home(options, stack)
    manager = ServiceManager(home, console=options.console)
    try:
        manager.up(stack)
        # an empty environment: only the client file of this home counts, never the VXP_*
        # variables of whoever runs the benchmarks
        settings = Settings.load(environ={}, home=home)
        with LakeFS(settings.lakefs_endpoint) as pool:
            session = pool.as_user(
                settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal()
            )
            yield Running(manager, settings, session)
    finally:
        manager.down()
        remove_home(home)
