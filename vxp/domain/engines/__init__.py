"""SQL engines as clients see them: DuckDB in-process, Trino over its HTTP protocol."""

from enum import StrEnum


class Engine(StrEnum):
    duckdb = "duckdb"
    trino = "trino"
