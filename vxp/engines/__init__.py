"""SQL engines as clients see them: DuckDB in-process, Trino over its HTTP protocol."""
