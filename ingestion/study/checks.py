"""Value checks shared by the CSV and SAS transport readers: declared types, key nulls and
duplicate keys, run batch by batch in DuckDB over Arrow data so memory stays bounded.

Rows are identified by their *ordinal* (1-based position among the data rows the reader
produced); the format's reader turns ordinals into lines for the problems it reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from .types import ColumnType

#: At most this many problems per (code, column) and file; then one summary problem.
PROBLEM_LIMIT = 100


def quote(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def text_check(column: str, ctype: ColumnType) -> str | None:
    """SQL predicate true when text ``column`` is set but is not a value of ``ctype``.

    Decimals must also fit without rounding (``1.234`` is not a ``decimal(5,2)``).
    """
    col = quote(column)
    if ctype.kind == "string":
        return None
    bad = f"TRY_CAST({col} AS {ctype.to_duckdb()}) IS NULL"
    if ctype.kind == "decimal" and (ctype.scale or 0) < 18:
        bad += (
            f" OR TRY_CAST({col} AS DECIMAL(38,18)) IS DISTINCT FROM "
            f"TRY_CAST({col} AS {ctype.to_duckdb()})"
        )
    return f"({col} IS NOT NULL AND ({bad}))"


def number_check(column: str, ctype: ColumnType) -> str | None:
    """SQL predicate true when DOUBLE ``column`` (SAS numeric) is set but not a ``ctype``."""
    col = quote(column)
    if ctype.kind in ("float", "double"):
        return None
    if ctype.kind in ("int", "long"):
        lim = 2**31 if ctype.kind == "int" else 2**63
        return f"({col} IS NOT NULL AND ({col} <> floor({col}) OR abs({col}) >= {lim}))"
    if ctype.kind == "bool":
        return f"({col} IS NOT NULL AND {col} NOT IN (0, 1))"
    if ctype.kind == "decimal":
        p, s = ctype.precision or 0, ctype.scale or 0
        return f"({col} IS NOT NULL AND (round({col}, {s}) <> {col} OR abs({col}) >= 1e{p - s}))"
    return None


@dataclass
class Finding:
    """A value problem at a row ordinal (the reader turns it into a :class:`Problem`)."""

    code: str
    ordinal: int
    column: str | None
    message: str


@dataclass
class BatchChecker:
    """Runs type checks per batch and collects key columns to find duplicates at the end.

    Args:
        checks: column name (as in the batch) -> (SQL predicate flagging a bad value, type).
        key_columns: key column names as in the batch (empty: no key checks).
    """

    checks: dict[str, tuple[str, ColumnType]]
    key_columns: list[str]
    findings: list[Finding] = field(default_factory=list)
    counts: dict[tuple[str, str | None], int] = field(default_factory=lambda: defaultdict(int))
    rows: int = 0

    def __post_init__(self) -> None:
        self._con = duckdb.connect()
        # keys of every row go to a DuckDB table that spills to disk past this limit
        self._con.execute("SET memory_limit='512MB'")
        self._con.execute("SET preserve_insertion_order=false")
        if self.key_columns:
            cols = ", ".join(f"{quote(c)} VARCHAR" for c in self.key_columns)
            self._con.execute(f"CREATE TABLE keys (ordinal BIGINT, {cols})")

    def _add(self, code: str, ordinal: int, column: str | None, message: str) -> None:
        self.counts[(code, column)] += 1
        if self.counts[(code, column)] <= PROBLEM_LIMIT:
            self.findings.append(Finding(code, ordinal, column, message))

    def check(self, batch: pa.RecordBatch) -> None:
        """Check one batch; its rows get the next ordinals."""
        n = batch.num_rows
        if n == 0:
            return
        base = self.rows
        self.rows += n
        table = pa.Table.from_batches([batch]).append_column(
            "__ordinal", pa.array(range(base + 1, base + n + 1), pa.int64())
        )
        self._con.register("batch", table)
        try:
            for column, (predicate, ctype) in self.checks.items():
                rows = self._con.execute(
                    f"SELECT __ordinal, CAST({quote(column)} AS VARCHAR) FROM batch "  # noqa: S608
                    f"WHERE {predicate} ORDER BY __ordinal"
                ).fetchall()
                for ordinal, value in rows:
                    self._add(
                        "value.type",
                        ordinal,
                        column,
                        f"The value {value!r} is not of the declared type {ctype}.",
                    )
            if self.key_columns:
                nulls = " OR ".join(f"{quote(c)} IS NULL" for c in self.key_columns)
                for row in self._con.execute(
                    f"SELECT __ordinal, {', '.join(quote(c) for c in self.key_columns)} "  # noqa: S608
                    f"FROM batch WHERE {nulls} ORDER BY __ordinal"
                ).fetchall():
                    for c, v in zip(self.key_columns, row[1:], strict=True):
                        if v is None:
                            self._add("key.null", row[0], c, "A key column is empty.")
                select = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in self.key_columns)
                self._con.execute(
                    f"INSERT INTO keys SELECT __ordinal, {select} FROM batch WHERE NOT ({nulls})"  # noqa: S608
                )
        finally:
            self._con.unregister("batch")

    def duplicate_keys(self) -> list[tuple[tuple[str, ...], list[int]]]:
        """Each natural key given to more than one row, with the ordinals of those rows
        (first ``PROBLEM_LIMIT`` keys, ordered by first ordinal)."""
        if not self.key_columns:
            return []
        cols = ", ".join(quote(c) for c in self.key_columns)
        rows = self._con.execute(
            f"SELECT {cols}, list(ordinal ORDER BY ordinal) AS o FROM keys GROUP BY {cols} "  # noqa: S608
            f"HAVING count(*) > 1 ORDER BY o[1] LIMIT {PROBLEM_LIMIT + 1}"
        ).fetchall()
        return [(tuple(r[:-1]), list(r[-1])) for r in rows]

    def close(self) -> None:
        """Release the DuckDB connection."""
        self._con.close()
