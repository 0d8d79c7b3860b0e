"""SQL engines as clients see them: DuckDB in-process, Trino over its HTTP protocol."""

from enum import StrEnum


class Engine(StrEnum):
    """The SQL engines ``vxp sql --engine`` runs on: DuckDB in-process, or the stack's Trino."""

    duckdb = "duckdb"
    trino = "trino"
