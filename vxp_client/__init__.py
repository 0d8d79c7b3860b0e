"""The public Python API of vxp, the import name dataset recipes use.

    import vxp_client

    client = vxp_client.PlatformClient("clinical", ref="v1")
    table = client.query("SELECT site, count(*) FROM basel.patients GROUP BY site")

Connection settings come from ``vxp env`` variables in the environment, else from the stack
``vxp up`` started on this machine.
"""

from __future__ import annotations

import pyarrow as pa

from vxp.connection import Settings
from vxp.engines import duckdb as _duckdb
from vxp.home import Home

__all__ = ["PlatformClient"]


class PlatformClient:
    """A repository of the platform, read at one ref (branch, tag or commit ID)."""

    def __init__(
        self, repository: str, ref: str = "integration", settings: Settings | None = None
    ) -> None:
        self.repository = repository
        self.ref = ref
        self.settings = settings or Settings.discover()

    def query(self, sql: str) -> pa.Table:
        """Run SQL with DuckDB at this client's ref: ``namespace.table`` names a table there,
        ``<repo>."<other ref>.<namespace>".<table>`` the same table at any other ref."""
        cache = Home.from_env().cache
        return _duckdb.query(cache, self.settings, sql, self.repository, self.ref).table
