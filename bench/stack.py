"""Real stacks for the benchmarks: a fresh ``VXP_HOME`` each, the shared (warm) binary cache."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lakefs_sdk
from duckdb import DuckDBPyConnection
from pyiceberg.catalog import Catalog

from bench.core import Options
from vxp.connection import Settings
from vxp.engines import duckdb as duck
from vxp.engines.common import CatalogAccess
from vxp.home import Home
from vxp.services.manager import ServiceManager


@dataclass(frozen=True)
class Running:
    """A started stack as a benchmark sees it."""

    manager: ServiceManager
    env: dict[str, str]
    settings: Settings

    def lakefs(self) -> lakefs_sdk.ApiClient:
        return self.settings.lakefs()

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
        env = manager.env()
        yield Running(manager, env, Settings.from_mapping(env))
    finally:
        manager.down()
        remove_home(home)
