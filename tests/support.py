"""Shared test helpers (importable as ``tests.support``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

import vxp_client
from vxp.core.home import Home
from vxp.core.settings import Settings
from vxp.domain.engines.common import CatalogAccess
from vxp.lakefs import Session, open_session
from vxp.services.manager import ServiceManager, components_for
from vxp.services.ports import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyiceberg.catalog import Catalog


class Stack:
    """A running stack as tests see it: its manager and home, and the client settings it wrote
    (the same :meth:`Settings.load` a user's client reads)."""

    def __init__(self, manager: ServiceManager) -> None:
        self.manager = manager
        self.home = manager.home
        self.env = manager.env()
        self.settings = Settings.load(environ={}, home=manager.home)

    def session(self) -> Session:
        """A lakeFS session with the installation's keys."""
        return open_session(self.settings)

    def client(self, repository: str, ref: str = "integration") -> vxp_client.PlatformClient:
        """The public client, pinned to ``ref`` of ``repository`` (close it, or use ``with``)."""
        return vxp_client.PlatformClient(repository, ref, settings=self.settings)


def own_ports(stack: str) -> dict[str, str]:
    """``VXP_<NAME>_PORT`` variables giving every port of ``stack`` a free port of its own.

    Set them around ``up`` of a test stack: stacks that take the usual ports (lakeFS's 8000, …)
    race for them when several run on one machine, and the loser's ``up`` fails.
    """
    names = [name for component in components_for(stack) for name in component.ports]
    ports: set[int] = set()
    while len(ports) < len(names):
        ports.add(free_port())
    return {
        f"VXP_{name.upper().replace('-', '_')}_PORT": str(port)
        for name, port in zip(names, sorted(ports), strict=True)
    }


@contextmanager
def started(root: Path, stack: str) -> Iterator[Stack]:
    """``vxp up`` of ``stack`` with ``VXP_HOME`` ``root`` and the shared binary cache, on ports
    of its own (:func:`own_ports`); ``vxp down`` on exit, also when ``up`` failed half-way."""
    home = Home(root=root, cache=Home.from_env().cache)
    manager = ServiceManager(home, console=Console(stderr=True, force_terminal=False))
    ports = own_ports(stack)
    saved = {name: os.environ.get(name) for name in ports}
    try:
        # read by `up` only, as from a user's `VXP_LAKEFS_PORT=… vxp up`
        os.environ.update(ports)
        try:
            manager.up(stack)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        yield Stack(manager)
    finally:
        manager.down()


def catalog(stack: Stack, warehouse: str) -> Catalog:
    """pyiceberg with nothing but what `vxp env` prints for the catalog."""
    return CatalogAccess.from_settings(stack.settings).pyiceberg(warehouse)


def s3_client(stack: Stack) -> S3Client:
    """boto3 on the stack's MinIO, with nothing but what `vxp env` prints for S3."""
    import boto3

    s3 = stack.settings.s3
    assert s3 is not None, "the full stack's settings name its S3 endpoint"
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key.reveal(),
        region_name=s3.region,
    )
