"""The vxp Iceberg REST catalog (``catalog/``), run as a local process by ``vxp catalog serve``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import ClassVar

import httpx

from vxp import __version__
from vxp.core.settings import Key
from vxp.services.base import Component, Context, LaunchSpec
from vxp.services.minio import WAREHOUSE_BUCKET, MinIO

# prefixes besides the warehouse root where clients may put tables and views; the local stack has
# no configuration file, so it comes from the environment `vxp up` runs in
ALLOWED_LOCATIONS = Key.CATALOG_ALLOWED_LOCATIONS.value


class Catalog(Component):
    """The vxp Iceberg REST catalog (``vxp.catalog``), run as ``vxp catalog serve``."""

    name = "catalog"
    version = __version__
    ports: ClassVar[dict[str, int | None]] = {"catalog": 8181}

    def installed(self, ctx: Context) -> bool:
        """Always True: the catalog is part of this Python package."""
        return True  # part of this Python package

    def install(self, ctx: Context, force: bool = False) -> None:
        """Nothing to install: the catalog ships with vxp."""

    def warehouse_root(self, ctx: Context) -> str:
        """Where table files go: ``s3://vxp-warehouse`` (full) or ``$VXP_HOME/data/warehouse``."""
        if ctx.stack == "full":
            return f"s3://{WAREHOUSE_BUCKET}"
        return (ctx.home.data / "warehouse").as_uri()

    def server_env(self, ctx: Context) -> dict[str, str]:
        """The ``VXP_CATALOG_*`` settings :meth:`vxp.catalog.settings.Settings.from_env` reads.

        Raises:
            OSError: the token secret's file cannot be written.
        """
        env = {
            "VXP_CATALOG_LAKEFS_ENDPOINT": f"http://127.0.0.1:{ctx.ports['lakefs']}",
            "VXP_CATALOG_WAREHOUSE_ROOT": self.warehouse_root(ctx),
            # a file, not the secret itself: the process environment is easier to leak
            # (docs/explainers/catalog-security.md)
            "VXP_CATALOG_TOKEN_SECRET_FILE": str(self._token_secret_file(ctx)),
            # named although the process would inherit it: it is part of the catalog's
            # configuration (compose passes it too), and empty means none
            ALLOWED_LOCATIONS: os.environ.get(ALLOWED_LOCATIONS, ""),
        }
        if ctx.stack == "full":
            env |= {
                "VXP_CATALOG_S3_ENDPOINT": f"http://127.0.0.1:{ctx.ports['minio']}",
                # the catalog's own pair: it reads and writes metadata, also under allowed
                # locations outside the warehouse bucket
                "VXP_CATALOG_S3_ACCESS_KEY_ID": ctx.secrets["minio_root_user"],
                "VXP_CATALOG_S3_SECRET_ACCESS_KEY": ctx.secrets["minio_root_password"],
                # what engines get in loadTable's config: the warehouse bucket only, no delete
                # (vxp.services.minio.engines_policy), never the root user
                "VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID": ctx.secrets["minio_engines_access_key_id"],
                "VXP_CATALOG_S3_CLIENT_SECRET_ACCESS_KEY": ctx.secrets[
                    "minio_engines_secret_access_key"
                ],
            }
        return env

    def _token_secret_file(self, ctx: Context) -> Path:
        """The token secret in a file only its owner can read (written if missing or stale).

        Raises:
            OSError: the file cannot be written.
        """
        path = ctx.run_dir(self.name) / "token-secret"
        secret = ctx.secrets["catalog_token_secret"]
        if not path.exists() or path.read_text(encoding="utf-8").strip() != secret:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secret + "\n")
        return path

    def _allowed_locations_file(self, ctx: Context) -> Path:
        return ctx.run_dir(self.name) / "allowed-locations"

    def prepare(self, ctx: Context) -> None:
        """Create the file warehouse, make sure the engines' MinIO user exists (full stack) and
        record the allowed locations the catalog starts with.

        Raises:
            OSError: a directory or file cannot be written.
            minio.error.MinioAdminException: MinIO refused to create the engines' user.
        """
        (ctx.home.data / "warehouse").mkdir(parents=True, exist_ok=True)
        if ctx.stack == "full":
            # MinIO may still run from an older vxp that never created the engines' user; the
            # key pair the catalog hands out must work (idempotent)
            MinIO().ensure_engines_user(ctx)
        # `vxp env` (and so `vxp gc`) must report the prefixes the running catalog was started
        # with, not those of the shell that happens to ask
        self._allowed_locations_file(ctx).write_text(os.environ.get(ALLOWED_LOCATIONS, ""))

    def launch(self, ctx: Context) -> LaunchSpec:
        """``python -m vxp catalog serve --port <port>`` with :meth:`server_env`."""
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
        """The catalog's base URL, ``http://127.0.0.1:<port>`` (REST routes under ``/v1``)."""
        return f"http://127.0.0.1:{ctx.ports['catalog']}"

    def healthy(self, ctx: Context) -> bool:
        """True when ``/healthz`` answers 200 within 2 s."""
        try:
            response = httpx.get(f"{self.url(ctx)}/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def settings(self, ctx: Context) -> dict[str, str]:
        """The catalog's settings for ``vxp env``.

        ``VXP_CATALOG_URI``, ``VXP_WAREHOUSE_ROOT`` and pyiceberg's ``PYICEBERG_CATALOG__VXP__*``;
        ``VXP_CATALOG_ALLOWED_LOCATIONS`` too when the running catalog was started with some.
        """
        credential = (
            f"{ctx.secrets['lakefs_access_key_id']}:{ctx.secrets['lakefs_secret_access_key']}"
        )
        uri = self.url(ctx)
        settings = {
            Key.CATALOG_URI: uri,
            # where table files live; `vxp gc` sweeps it (with the S3 settings of MinIO's env)
            Key.WAREHOUSE_ROOT: self.warehouse_root(ctx),
            # pyiceberg reads these: load_catalog("vxp", warehouse="<repo>.<ref>") needs no more
            "PYICEBERG_CATALOG__VXP__URI": uri,
            "PYICEBERG_CATALOG__VXP__CREDENTIAL": credential,
            # pyiceberg deprecates guessing the token endpoint from the URI
            "PYICEBERG_CATALOG__VXP__OAUTH2_SERVER_URI": f"{uri}/v1/oauth/tokens",
        }
        allowed_file = self._allowed_locations_file(ctx)
        allowed = allowed_file.read_text().strip() if allowed_file.exists() else ""
        if allowed:
            # `vxp gc` marks the tables and views there too (without them, it would take such a
            # table for a planted pointer: docs/reference/gc.md)
            settings[ALLOWED_LOCATIONS] = allowed
        return settings
