"""The vxp Iceberg REST catalog (``catalog/``), run as a local process by ``vxp catalog serve``."""

from __future__ import annotations

import sys
from typing import ClassVar

import httpx

from vxp import __version__
from vxp.engines import duckdb as duck
from vxp.services.base import Component, Context, LaunchSpec
from vxp.services.minio import WAREHOUSE_BUCKET


class Catalog(Component):
    name = "catalog"
    version = __version__
    ports: ClassVar[dict[str, int | None]] = {"catalog": 8181}

    def installed(self, ctx: Context) -> bool:
        return True  # part of this Python package

    def install(self, ctx: Context, force: bool = False) -> None:
        """Nothing to install: the catalog ships with vxp."""

    def warehouse_root(self, ctx: Context) -> str:
        if ctx.stack == "full":
            return f"s3://{WAREHOUSE_BUCKET}"
        return (ctx.home.data / "warehouse").as_uri()

    def server_env(self, ctx: Context) -> dict[str, str]:
        """The ``VXP_CATALOG_*`` settings :meth:`catalog.settings.Settings.from_env` reads."""
        env = {
            "VXP_CATALOG_LAKEFS_ENDPOINT": f"http://127.0.0.1:{ctx.ports['lakefs']}",
            "VXP_CATALOG_WAREHOUSE_ROOT": self.warehouse_root(ctx),
            "VXP_CATALOG_TOKEN_SECRET": ctx.secrets["catalog_token_secret"],
        }
        if ctx.stack == "full":
            env |= {
                "VXP_CATALOG_S3_ENDPOINT": f"http://127.0.0.1:{ctx.ports['minio']}",
                "VXP_CATALOG_S3_ACCESS_KEY_ID": ctx.secrets["minio_root_user"],
                "VXP_CATALOG_S3_SECRET_ACCESS_KEY": ctx.secrets["minio_root_password"],
            }
        return env

    def prepare(self, ctx: Context) -> None:
        (ctx.home.data / "warehouse").mkdir(parents=True, exist_ok=True)

    def launch(self, ctx: Context) -> LaunchSpec:
        return LaunchSpec(
            argv=[
                sys.executable,
                "-m",
                "vxp",
                "catalog",
                "serve",
                "--port",
                str(ctx.ports["catalog"]),
            ],
            env=self.server_env(ctx),
        )

    def url(self, ctx: Context) -> str:
        return f"http://127.0.0.1:{ctx.ports['catalog']}"

    def healthy(self, ctx: Context) -> bool:
        try:
            response = httpx.get(f"{self.url(ctx)}/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def settings(self, ctx: Context) -> dict[str, str]:
        credential = (
            f"{ctx.secrets['lakefs_access_key_id']}:{ctx.secrets['lakefs_secret_access_key']}"
        )
        uri = self.url(ctx)
        return {
            "VXP_CATALOG_URI": uri,
            "VXP_CATALOG_CREDENTIAL": credential,
            # where table files live; `vxp gc` sweeps it (with the S3 settings of MinIO's env)
            "VXP_WAREHOUSE_ROOT": self.warehouse_root(ctx),
            # pyiceberg reads these: load_catalog("vxp", warehouse="<repo>.<ref>") needs no more
            "PYICEBERG_CATALOG__VXP__URI": uri,
            "PYICEBERG_CATALOG__VXP__CREDENTIAL": credential,
            # pyiceberg deprecates guessing the token endpoint from the URI
            "PYICEBERG_CATALOG__VXP__OAUTH2_SERVER_URI": f"{uri}/v1/oauth/tokens",
            # replace REPOSITORY.REF by a warehouse, e.g. clinical.integration
            "VXP_DUCKDB_ATTACH": duck.attach_sql(
                uri,
                ctx.secrets["lakefs_access_key_id"],
                ctx.secrets["lakefs_secret_access_key"],
                warehouse="REPOSITORY.REF",
            ),
        }
