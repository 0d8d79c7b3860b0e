"""Shared test helpers (importable as ``tests.support``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vxp.connection import Settings
from vxp.engines.common import CatalogAccess
from vxp.services.manager import ServiceManager

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyiceberg.catalog import Catalog


class Stack:
    """A running stack as tests see it: its manager, home and client settings."""

    def __init__(self, manager: ServiceManager) -> None:
        self.manager = manager
        self.home = manager.home
        self.env = manager.env()
        self.settings = Settings.from_mapping(self.env)


def catalog(stack: Stack, warehouse: str) -> Catalog:
    """pyiceberg with nothing but what `vxp env` prints for the catalog."""
    return CatalogAccess.from_settings(stack.settings).pyiceberg(warehouse)


def s3_client(stack: Stack) -> S3Client:
    """boto3 on the stack's MinIO, with nothing but what `vxp env` prints for S3."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=stack.env["VXP_S3_ENDPOINT"],
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
        region_name=stack.env["AWS_REGION"],
    )
