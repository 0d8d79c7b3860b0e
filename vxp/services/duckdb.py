"""DuckDB: in-process, so nothing to start; 'healthy' means its extensions load offline."""

from __future__ import annotations

import duckdb

from vxp.core.errors import VxpError
from vxp.domain.engines import duckdb as engine
from vxp.services.base import Component, Context, LaunchSpec


class DuckDB(Component):
    """DuckDB, in-process: nothing to start; "healthy" means its extensions load offline."""

    name = "duckdb"
    version = engine.VERSION
    is_process = False

    def installed(self, ctx: Context) -> bool:
        """True when the offline extension directory can be made from the wheels."""
        try:
            engine.extension_directory(ctx.home.cache)
        except VxpError:
            return False
        return True

    def install(self, ctx: Context, force: bool = False) -> None:
        """Link the extension binaries of the ``duckdb-extension-*`` wheels for offline loading.

        Raises:
            VxpError: an extension wheel is missing or does not match duckdb.
            OSError: the extension directory cannot be made.
        """
        # the extension binaries come with the Python wheels; this links them for offline loading
        engine.extension_directory(ctx.home.cache)

    def launch(self, ctx: Context) -> LaunchSpec:
        """There is no process to launch.

        Raises:
            VxpError: always (the service manager never calls it, ``is_process`` being False).
        """
        raise VxpError("DuckDB runs inside the client process; there is nothing to launch")

    def healthy(self, ctx: Context) -> bool:
        """True when a new connection has all of :data:`EXTENSIONS` loaded.

        Raises:
            VxpError: an extension wheel is missing or does not match duckdb.
        """
        try:
            conn = engine.connect(ctx.home.cache)
        except duckdb.Error:
            # a damaged extension file: `vxp status` shows "unavailable" and exits 1
            return False
        try:
            loaded = conn.execute(
                "SELECT count(*) FROM duckdb_extensions() WHERE loaded AND extension_name IN "
                "('avro', 'httpfs', 'iceberg')"
            ).fetchone()
        finally:
            conn.close()
        return loaded is not None and loaded[0] == len(engine.EXTENSIONS)

    def url(self, ctx: Context) -> str:
        """``in-process``: there is no server to reach."""
        return "in-process"

    def settings(self, ctx: Context) -> dict[str, str]:
        """``VXP_DUCKDB_EXTENSION_DIRECTORY`` for ``vxp env``.

        Raises:
            VxpError: an extension wheel is missing or does not match duckdb.
        """
        return {"VXP_DUCKDB_EXTENSION_DIRECTORY": str(engine.extension_directory(ctx.home.cache))}
