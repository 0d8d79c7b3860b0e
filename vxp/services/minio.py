"""MinIO: the full stack's S3 object store, built from its Go module.

MinIO's community edition ships source only, so the server is built with ``go install`` from the
module proxy and cached by version. It listens on 127.0.0.1 only, with this installation's
generated root credentials, and never phones home.

:meth:`MinIO.settings` exports, for ``vxp env``:

- ``VXP_S3_ENDPOINT``: the S3 API endpoint;
- ``VXP_S3_ACCESS_KEY_ID`` / ``VXP_S3_SECRET_ACCESS_KEY``: the MinIO root user and password
  (``vxp gc`` deletes with them);
- ``VXP_S3_REGION``: the region MinIO reports.

Engines never get the root user: :meth:`MinIO.after_start` creates the *engines* user
(``minio_engines_access_key_id`` of the installation's secrets) with :data:`ENGINES_POLICY`, which
allows reading, listing and writing the warehouse bucket and nothing else, no delete
(:func:`engines_policy`). The catalog hands that key pair to engines in ``loadTable``'s config,
Trino reads and writes with it (docs/explainers/catalog-security.md).

Only ``VXP_*`` names: ``eval "$(vxp env)"`` must never replace a user's own ``AWS_*`` variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError

from vxp.core.settings import DEFAULT_REGION, Key
from vxp.services import toolchain
from vxp.services.base import CachedComponent, Context, LaunchSpec
from vxp.services.lakefs import BUCKET as LAKEFS_BUCKET

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MODULE = "github.com/minio/minio"
# a Go pseudo-version (commit 7aac2a2c5b7c, 2026-02-12): the module has no tagged releases
VERSION = "0.0.0-20260212201848-7aac2a2c5b7c"
REGION = DEFAULT_REGION
# the bucket that holds Iceberg table files written outside lakeFS' storage namespaces
WAREHOUSE_BUCKET = "vxp-warehouse"
# the MinIO policy of the engines' user (engines_policy)
ENGINES_POLICY = "vxp-engines"
# MinIO's answer to attaching a policy the user already has
_ALREADY_APPLIED = "XMinioAdminPolicyChangeAlreadyApplied"


def engines_policy(bucket: str = WAREHOUSE_BUCKET) -> dict[str, Any]:
    """The IAM policy of the engines' MinIO user: read, list and write ``bucket``, nothing else.

    Objects can be read and written, including multipart uploads (and aborting one's own), but
    not deleted: deleting warehouse files is ``vxp gc``'s alone, since a file one branch no
    longer needs may be what a tag reads (docs/reference/gc.md). Other buckets (lakeFS's
    storage) are out of reach. Actions are AWS IAM's S3 actions, which MinIO implements.

    Returns:
        The policy document, ready to be sent as JSON.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:ListBucketMultipartUploads",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }


class MinIO(CachedComponent):
    """MinIO, built from its Go module and cached by version; the full stack's S3 store."""

    name = "minio"
    version = VERSION
    ports: ClassVar[dict[str, int | None]] = {"minio": 9000, "minio-console": 9001}

    def binary(self, ctx: Context) -> Path:
        """The cached ``minio`` binary."""
        return self.slot(ctx) / "minio"

    def build(self, ctx: Context, slot: Path) -> None:
        """``go install`` the server (its main package is the module root) into ``slot``.

        Raises:
            VxpError: ``go`` is missing or the build fails.
        """
        # the server's main package is the module root
        toolchain.go_install(f"{MODULE}@v{self.version}", MODULE, self.binary(ctx), ctx.console)

    def checked_files(self) -> list[str]:
        """The binary: its checksum catches a damaged install."""
        return ["minio"]

    def launch(self, ctx: Context) -> LaunchSpec:
        """``minio server`` on 127.0.0.1 with the root credentials, updates and call-home off."""
        return LaunchSpec(
            argv=[
                str(self.binary(ctx)),
                "server",
                "--address",
                f"127.0.0.1:{ctx.ports['minio']}",
                "--console-address",
                f"127.0.0.1:{ctx.ports['minio-console']}",
                str(ctx.data_dir(self.name)),
            ],
            env={
                "MINIO_ROOT_USER": ctx.secrets["minio_root_user"],
                "MINIO_ROOT_PASSWORD": ctx.secrets["minio_root_password"],
                # a research platform must not phone home: no update check, no call-home reports
                "MINIO_UPDATE": "off",
                "MINIO_CALLHOME_ENABLE": "off",
            },
        )

    def url(self, ctx: Context) -> str:
        """The S3 endpoint, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{ctx.ports['minio']}"

    def healthy(self, ctx: Context) -> bool:
        """True when ``/minio/health/ready`` answers 200 within 2 s."""
        try:
            # "ready" (unlike "live") answers 200 only once the storage layer accepts requests
            response = httpx.get(f"{self.url(ctx)}/minio/health/ready", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def client(self, ctx: Context) -> S3Client:
        """A boto3 S3 client for this MinIO, authenticated as the root user."""
        return boto3.client(
            "s3",
            endpoint_url=self.url(ctx),
            aws_access_key_id=ctx.secrets["minio_root_user"],
            aws_secret_access_key=ctx.secrets["minio_root_password"],
            region_name=REGION,
            # MinIO serves buckets as paths, not as virtual hosts
            config=Config(s3={"addressing_style": "path"}),
        )

    def after_start(self, ctx: Context) -> None:
        """Create the lakeFS and warehouse buckets and the engines' user; a restart finds them
        there already (:meth:`ensure_engines_user`).

        Raises:
            botocore.exceptions.ClientError: MinIO refused to create a bucket for another reason
                than owning it already.
            botocore.exceptions.BotoCoreError: MinIO cannot be reached.
            minio.error.MinioAdminException: MinIO refused an admin request.
        """
        s3 = self.client(ctx)
        for bucket in (LAKEFS_BUCKET, WAREHOUSE_BUCKET):
            try:
                s3.create_bucket(Bucket=bucket)
            except ClientError as error:
                # a restart finds the buckets already there
                if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
        self.ensure_engines_user(ctx)

    def ensure_engines_user(self, ctx: Context) -> None:
        """Create or update the engines' MinIO user and its policy (:func:`engines_policy`).

        Idempotent: the policy and the user's secret key are written again (the installation's
        secrets win), attaching a policy the user already has counts as done. Through MinIO's
        admin API (minio-py's ``MinioAdmin``), as the root user.

        Raises:
            minio.error.MinioAdminException: MinIO refused a request.
            urllib3.exceptions.HTTPError: MinIO cannot be reached.
        """
        from minio.credentials.providers import StaticProvider
        from minio.error import MinioAdminException
        from minio.minioadmin import MinioAdmin

        admin = MinioAdmin(
            endpoint=f"127.0.0.1:{ctx.ports['minio']}",
            credentials=StaticProvider(
                ctx.secrets["minio_root_user"], ctx.secrets["minio_root_password"]
            ),
            region=REGION,
            secure=False,
        )
        user = ctx.secrets["minio_engines_access_key_id"]
        admin.policy_add(ENGINES_POLICY, policy=engines_policy())
        admin.user_add(user, ctx.secrets["minio_engines_secret_access_key"])
        try:
            admin.attach_policy([ENGINES_POLICY], user=user)
        except MinioAdminException as exc:
            if _ALREADY_APPLIED not in str(exc):
                raise

    def settings(self, ctx: Context) -> dict[str, str]:
        """``VXP_S3_*`` for ``vxp env``; never ``AWS_*``, which stay the user's."""
        return {
            Key.S3_ENDPOINT: self.url(ctx),
            Key.S3_ACCESS_KEY_ID: ctx.secrets["minio_root_user"],
            Key.S3_SECRET_ACCESS_KEY: ctx.secrets["minio_root_password"],
            Key.S3_REGION: REGION,
        }
