"""boto3 clients for the catalog's own S3 calls, from pyiceberg FileIO properties.

The catalog reads metadata files through pyiceberg's FileIO (what engines use too), but two calls
go through boto3: writing a new metadata file, because ``PutObject`` with ``If-None-Match: *``
refuses atomically to overwrite an existing object in one request (pyarrow's output stream took
2-3 times as long and needs a separate existence check); and gc's listing and batch deletes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config as BotoConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def client(properties: dict[str, str]) -> S3Client:
    """A boto3 S3 client for ``properties`` (``s3.endpoint``, ``s3.access-key-id``,
    ``s3.secret-access-key``, ``s3.region``, ``s3.path-style-access``: the pyiceberg FileIO
    names of :meth:`vxp.catalog.settings.S3Settings.file_io_properties`)."""
    path_style = properties.get("s3.path-style-access", "false").lower() == "true"
    return boto3.client(
        "s3",
        endpoint_url=properties.get("s3.endpoint"),
        aws_access_key_id=properties.get("s3.access-key-id"),
        aws_secret_access_key=properties.get("s3.secret-access-key"),
        region_name=properties.get("s3.region"),
        config=BotoConfig(s3={"addressing_style": "path" if path_style else "auto"}),
    )


def split(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return bucket, key
