"""Shared test helpers (importable as ``tests.support``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import vxp_client
from vxp.core.settings import Settings
from vxp.domain.engines.common import CatalogAccess
from vxp.lakefs import Session, open_session
from vxp.services.manager import ServiceManager

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
