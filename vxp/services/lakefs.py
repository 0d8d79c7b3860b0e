"""lakeFS from its Go module: local KV and blockstore (embedded) or PostgreSQL + S3 (full)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import httpx
import yaml

from vxp.core.errors import VxpError
from vxp.core.settings import DEFAULT_REGION, Key
from vxp.services import cache, toolchain
from vxp.services.base import CachedComponent, Context, LaunchSpec

MODULE = "github.com/treeverse/lakefs"
VERSION = "1.86.0"
# what the cached binary holds beyond the Go code: the web UI, built from the module's webui/
BUILD = "webui"
# the MinIO bucket that holds every repository's storage namespace in the full stack
BUCKET = "vxp-lakefs"


class LakeFS(CachedComponent):
    """lakeFS, built with its web UI from its Go module and cached by version.

    Embedded stack: local KV store and local blockstore. Full stack: PostgreSQL KV and the
    MinIO bucket :data:`BUCKET` as blockstore.
    """

    name = "lakefs"
    version = VERSION
    ports: ClassVar[dict[str, int | None]] = {"lakefs": 8000}
    startup_timeout = 120.0
    web_ui = "/"

    def slot(self, ctx: Context) -> Path:
        """The cache slot, keyed ``<version>+webui`` so a binary built without the UI is rebuilt."""
        # keyed by version and build: a binary cached before the UI was embedded is rebuilt once
        return cache.slot(ctx.home.cache, self.name, f"{self.version}+{BUILD}")

    def binary(self, ctx: Context) -> Path:
        """The cached ``lakefs`` binary."""
        return self.slot(ctx) / "lakefs"

    def build(self, ctx: Context, slot: Path) -> None:
        """Build the web UI, then the binary that embeds it, into ``slot``.

        As lakeFS's own ``make build`` does (``gen-ui`` before ``go build``): ``webui/content.go``
        embeds ``webui/dist`` with ``go:embed``, and without ``dist/index.html`` the server
        answers ``/`` with "UI Not Built".

        Raises:
            VxpError: ``go`` or ``npm`` is missing, a step fails, or the UI build left no
                ``index.html``.
            OSError: the module cannot be copied into ``slot``.
        """
        toolchain.go_build_module(
            MODULE,
            f"v{self.version}",
            "./cmd/lakefs",
            self.binary(ctx),
            ctx.console,
            work=slot,
            # stamp the version the way lakeFS's own release build does
            ldflags=f"-X {MODULE}/pkg/version.Version={self.version}",
            before_build=lambda src: self._build_webui(ctx, src),
        )

    def _build_webui(self, ctx: Context, src: Path) -> None:
        webui = src / "webui"
        # VERSION is what lakeFS's Makefile passes: the UI shows it in its "about" box
        toolchain.npm_build(
            webui, f"the lakeFS {self.version} web UI", ctx.console, env={"VERSION": self.version}
        )
        if not (webui / "dist" / "index.html").is_file():
            raise VxpError(f"the lakeFS web UI build wrote no {webui / 'dist' / 'index.html'}")

    def checked_files(self) -> list[str]:
        """The binary: its checksum catches a damaged install."""
        return ["lakefs"]

    def storage_namespace(self, ctx: Context, repository: str) -> str:
        """Where lakeFS keeps ``repository``'s objects: ``s3://vxp-lakefs/<repo>`` (full) or
        ``local://<repo>`` (embedded).
        """
        if ctx.stack == "full":
            return f"s3://{BUCKET}/{repository}"
        return f"local://{repository}"

    def config(self, ctx: Context) -> dict[str, object]:
        """lakeFS's configuration (its ``lakefs.yaml`` keys) for this installation and stack.

        Listens on 127.0.0.1 only, never phones home (stats, update checks off), and creates the
        admin user with the installation's generated keys on first start.
        """
        data = ctx.data_dir(self.name)
        cfg: dict[str, object] = {
            "listen_address": f"127.0.0.1:{ctx.ports['lakefs']}",
            "logging": {"format": "text", "level": "INFO"},
            "auth": {"encrypt": {"secret_key": ctx.secrets["lakefs_encrypt_secret"]}},
            # first start creates the admin user with this installation's generated keys
            "installation": {
                "user_name": "admin",
                "access_key_id": ctx.secrets["lakefs_access_key_id"],
                "secret_access_key": ctx.secrets["lakefs_secret_access_key"],
            },
            # a research platform must not phone home
            "stats": {"enabled": False},
            "email_subscription": {"enabled": False},
            "security": {"check_latest_version": False},
            # lakeFS defaults these under ~/lakefs: keep every instance's files in its own home
            "committed": {"local_cache": {"dir": str(data / "cache")}},
            # lakeFS holds each branch, commit and repository read up to 3 ms (its default) to
            # batch it with identical ones, which pays off at hundreds of requests per second;
            # a branch create, upload or commit makes several such reads in a row, so on one
            # installation's load it mostly waits: 100 µs made them ~40% faster (issue 7)
            "graveler": {"max_batch_delay": "100us"},
        }
        if ctx.stack == "full":
            cfg["database"] = {
                "type": "postgres",
                "postgres": {
                    "connection_string": (
                        f"postgres://vxp:{ctx.secrets['postgres_password']}"
                        f"@127.0.0.1:{ctx.ports['postgres']}/lakefs?sslmode=disable"
                    )
                },
            }
            cfg["blockstore"] = {
                "type": "s3",
                "s3": {
                    "endpoint": f"http://127.0.0.1:{ctx.ports['minio']}",
                    "force_path_style": True,
                    "region": DEFAULT_REGION,
                    "discover_bucket_region": False,
                    "credentials": {
                        "access_key_id": ctx.secrets["minio_root_user"],
                        "secret_access_key": ctx.secrets["minio_root_password"],
                    },
                },
            }
        else:
            cfg["database"] = {"type": "local", "local": {"path": str(data / "kv")}}
            cfg["blockstore"] = {
                "type": "local",
                "local": {"path": str(data / "blocks"), "import_enabled": True},
            }
        return cfg

    def prepare(self, ctx: Context) -> None:
        """Write ``$VXP_HOME/run/lakefs/lakefs.yaml`` (mode 0600: it holds the keys).

        Raises:
            OSError: the file cannot be written.
        """
        path = ctx.run_dir(self.name) / "lakefs.yaml"
        path.write_text(yaml.safe_dump(self.config(ctx), sort_keys=False))
        path.chmod(0o600)

    def launch(self, ctx: Context) -> LaunchSpec:
        """``lakefs run --config <run dir>/lakefs.yaml``."""
        config = ctx.run_dir(self.name) / "lakefs.yaml"
        # the hooks' action sends it as {{ ENV.LAKEFSACTION_VXP_HOOKS_SECRET }} (vxp.checks.actions)
        env = {"LAKEFSACTION_VXP_HOOKS_SECRET": ctx.secrets["hooks_secret"]}
        return LaunchSpec(argv=[str(self.binary(ctx)), "run", "--config", str(config)], env=env)

    def url(self, ctx: Context) -> str:
        """lakeFS's base URL, ``http://127.0.0.1:<port>`` (without ``/api/v1``)."""
        return f"http://127.0.0.1:{ctx.ports['lakefs']}"

    def healthy(self, ctx: Context) -> bool:
        """True when lakeFS's ``/_health`` answers 200 within 2 s."""
        try:
            return httpx.get(f"{self.url(ctx)}/_health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def after_start(self, ctx: Context) -> None:
        """Create the admin user with this installation's keys, once.

        lakeFS does this itself from ``installation.*`` only with a local KV store; with
        PostgreSQL it waits for a setup call (``/api/v1/setup_lakefs``), which we make with the
        generated keys.

        Raises:
            VxpError: lakeFS answered the setup call with neither 200 nor 409.
            httpx.HTTPError: lakeFS cannot be reached.
            ValueError: lakeFS's setup state is not JSON.
        """
        url = f"{self.url(ctx)}/api/v1/setup_lakefs"
        if httpx.get(url, timeout=10.0).json().get("state") == "initialized":
            return
        response = httpx.post(
            url,
            json={
                "username": "admin",
                "key": {
                    "access_key_id": ctx.secrets["lakefs_access_key_id"],
                    "secret_access_key": ctx.secrets["lakefs_secret_access_key"],
                },
            },
            timeout=30.0,
        )
        if response.status_code not in (200, 409):
            raise VxpError(f"lakeFS setup failed ({response.status_code}): {response.text}")

    def settings(self, ctx: Context) -> dict[str, str]:
        """``VXP_LAKEFS_*`` and ``VXP_STORAGE_NAMESPACE_PREFIX`` for ``vxp env``."""
        return {
            Key.LAKEFS_ENDPOINT: self.url(ctx),
            Key.LAKEFS_ACCESS_KEY_ID: ctx.secrets["lakefs_access_key_id"],
            Key.LAKEFS_SECRET_ACCESS_KEY: ctx.secrets["lakefs_secret_access_key"],
            Key.STORAGE_NAMESPACE_PREFIX: self.storage_namespace(ctx, ""),
        }
