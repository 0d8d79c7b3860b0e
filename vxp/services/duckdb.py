"""DuckDB: in-process, so nothing to start; 'healthy' means its extensions load offline."""

from __future__ import annotations

from vxp.core.errors import VxpError
from vxp.domain.engines import duckdb as engine
from vxp.services.base import Component, Context, LaunchSpec


class DuckDB(Component):
    name = "duckdb"
    version = engine.VERSION
    is_process = False

    def installed(self, ctx: Context) -> bool:
        try:
            engine.extension_directory(ctx.home.cache)
        except VxpError:
            return False
        return True

    def install(self, ctx: Context, force: bool = False) -> None:
        # the extension binaries come with the Python wheels; this links them for offline loading
        engine.extension_directory(ctx.home.cache)

    def launch(self, ctx: Context) -> LaunchSpec:
        raise VxpError("DuckDB runs inside the client process; there is nothing to launch")

    def healthy(self, ctx: Context) -> bool:
        conn = engine.connect(ctx.home.cache)
        loaded = conn.execute(
            "SELECT count(*) FROM duckdb_extensions() WHERE loaded AND extension_name IN "
            "('avro', 'httpfs', 'iceberg')"
        ).fetchone()
        conn.close()
        return loaded is not None and loaded[0] == len(engine.EXTENSIONS)

    def url(self, ctx: Context) -> str:
        return "in-process"

    def settings(self, ctx: Context) -> dict[str, str]:
        return {"VXP_DUCKDB_EXTENSION_DIRECTORY": str(engine.extension_directory(ctx.home.cache))}
