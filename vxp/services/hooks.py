"""The hooks server (``hooks/``, ``python -m vxp.hooks``), run as a local process by ``vxp up``.

lakeFS's pre-commit and pre-merge webhooks call it with the installation's hooks secret; it reads
lakeFS with the admin key pair and tables through the catalog, and keeps its signed records of
passed validations under ``$VXP_HOME/data/hooks/records`` (DESIGN.md, "Hooks").
"""

from __future__ import annotations

import sys
from typing import ClassVar

import httpx

from vxp import __version__
from vxp.services.base import Component, Context, LaunchSpec
from vxp.services.catalog import Catalog
from vxp.services.lakefs import LakeFS

#: the variable ``vxp env`` prints for clients (``vxp hooks install``, ``vxp audit``)
URL_KEY = "VXP_HOOKS_URL"
#: the secret's name in the installation's secrets file
SECRET = "hooks_secret"  # noqa: S105 - a key's name


class Hooks(Component):
    """The vxp hooks server (``vxp.hooks``)."""

    name = "hooks"
    version = __version__
    ports: ClassVar[dict[str, int | None]] = {"hooks": 8282}

    def installed(self, ctx: Context) -> bool:
        """Always True: the hooks server is part of this Python package."""
        return True

    def install(self, ctx: Context, force: bool = False) -> None:
        """Nothing to install: the hooks server ships with vxp."""

    def server_env(self, ctx: Context) -> dict[str, str]:
        """The variables :meth:`vxp.hooks.settings.Settings.from_env` reads: the hooks secret,
        the URL lakeFS reaches it at, the records folder, and lakeFS's, the catalog's and (full
        stack) MinIO's client settings."""
        env = {
            "VXP_HOOKS_SECRET": ctx.secrets[SECRET],
            "VXP_HOOKS_PUBLIC_URL": self.url(ctx),
            "VXP_HOOKS_RECORDS": str(ctx.data_dir(self.name) / "records"),
            "VXP_CACHE": str(ctx.home.cache),
        }
        env |= {str(k): v for k, v in LakeFS().settings(ctx).items()}
        env |= {str(k): v for k, v in Catalog().settings(ctx).items() if k.startswith("VXP_")}
        if ctx.stack == "full":
            from vxp.services.minio import MinIO

            env |= {str(k): v for k, v in MinIO().settings(ctx).items()}
        return env

    def launch(self, ctx: Context) -> LaunchSpec:
        """``python -m vxp.hooks --port <port>`` with :meth:`server_env`."""
        return LaunchSpec(
            argv=[sys.executable, "-m", "vxp.hooks", "--port", str(ctx.ports["hooks"])],
            env=self.server_env(ctx),
        )

    def url(self, ctx: Context) -> str:
        """The server's base URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{ctx.ports['hooks']}"

    def healthy(self, ctx: Context) -> bool:
        """True when ``/healthz`` answers 200 within 2 s."""
        try:
            return httpx.get(f"{self.url(ctx)}/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def settings(self, ctx: Context) -> dict[str, str]:
        """``VXP_HOOKS_URL`` for ``vxp env`` (never the secret: clients do not need it); nothing
        while the server has no port yet."""
        return {URL_KEY: self.url(ctx)} if "hooks" in ctx.ports else {}
