"""Value checks shared by the CSV and SAS transport readers: declared types, key nulls and
duplicate keys, run batch by batch in DuckDB over Arrow data so memory stays bounded.

Rows are identified by their *ordinal* (1-based position among the data rows the reader
produced); the format's reader turns ordinals into lines for the problems it reports.

Per batch, one query evaluates every check of every column and returns only the offending rows
(their ordinal, one flag per check and the checked values as text), and one statement adds the
batch's key hashes to a DuckDB table that spills to disk. Duplicate keys are found at the end by
grouping those hashes; the reader then confirms each candidate group on the key values
themselves (:func:`confirm_duplicates`), so a hash collision never reports a false duplicate.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .types import ColumnType

#: At most this many problems per (code, column) and file; then one summary problem.
PROBLEM_LIMIT = 100


def more_problems(n: int, what: str = "such problems") -> str:
    """The message of the summary problem that stands for ``n`` problems not listed.

    It is reported at the line of the last listed problem of its kind, so that it sorts after
    them (problems sort by file, line, column, code, message; "…" after letters), and
    :func:`vxp.ingestion.report.omitted` reads ``n`` back to count every error.
    """
    return f"… and {n:,} more {what} (the first {PROBLEM_LIMIT} are listed)."


#: DuckDB memory of one file's checks; the key hashes spill to a temporary folder past it
MEMORY_LIMIT = "192MB"
#: at most this many repeated keys are looked at to report the first ones by line
REPEATED_LIMIT = 100_000


def quote(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def text_check(column: str, ctype: ColumnType) -> str | None:
    """SQL predicate true when text ``column`` is set but is not a value of ``ctype``.

    Decimals must also fit without rounding (``1.234`` is not a ``decimal(5,2)``): the value
    at scale 18 must equal the value at the declared scale. Only a text with more fractional
    digits than the scale, or with an exponent, can differ, so only those are compared; and
    since DuckDB parses text into a 128-bit decimal some fifty times slower than into a 64-bit
    one, for ``p <= 18`` they are first compared at scale ``18 - (p - s)`` (64-bit, exact for
    every text with at most that many fractional digits). DuckDB does not check the precision
    of a text with an exponent (``'4.54e3'`` casts to a ``decimal(3,0)`` of 4540), so for those
    the magnitude is checked too. Every comparison casts explicitly with ``TRY_CAST``: an
    implicit cast of such a value would raise instead of flagging it.
    """
    col = quote(column)
    if ctype.kind == "string":
        return None
    declared = f"TRY_CAST({col} AS {ctype.to_duckdb()})"
    bad = f"{declared} IS NULL"
    p, s = ctype.precision or 0, ctype.scale or 0
    if ctype.kind == "decimal":
        exponent = f"(contains({col}, 'e') OR contains({col}, 'E'))"
        too_big = f"coalesce(abs(TRY_CAST({declared} AS DOUBLE)) >= 1e{p - s}, false)"
        bad += f" OR ({exponent} AND {too_big})"
        if s < 18:
            exact = _differs(col, declared, 38, 18)
            if p <= 18:
                wide = 18 - (p - s)  # a value that fits (p, s) fits (18, wide) too
                exact = f"{_differs(col, declared, 18, wide)} OR ({_longer(col, wide)} AND {exact})"
            bad += f" OR ({_longer(col, s)} AND ({exact}))"
    return f"({col} IS NOT NULL AND ({bad}))"


def _differs(col: str, declared: str, precision: int, scale: int) -> str:
    """SQL: text ``col`` read at ``DECIMAL(precision, scale)`` differs from ``declared``."""
    wide = f"DECIMAL({precision},{scale})"
    return f"TRY_CAST({col} AS {wide}) IS DISTINCT FROM TRY_CAST({declared} AS {wide})"


def _longer(col: str, digits: int) -> str:
    """SQL: text ``col`` may hold more than ``digits`` fractional digits (blanks count as
    digits here), or has an exponent."""
    point = f"strpos({col}, '.')"
    return (
        f"(({point} > 0 AND strlen({col}) - {point} > {digits}) "
        f"OR contains({col}, 'e') OR contains({col}, 'E'))"
    )


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
    """Runs every check of a batch in one query and collects key hashes to find duplicates.

    Args:
        checks: column name (as in the batch) -> (SQL predicate flagging a bad value, type).
        key_columns: key column names as in the batch (empty: no key checks).
        key_types: key column -> DuckDB type its text is compared as (``"01"`` and ``"1"``
            are one ``int`` key); key columns not named are compared as they are.

    Attributes:
        findings: the first ``PROBLEM_LIMIT`` findings per (code, column), in row order.
        counts: (code, column) -> how many rows had that problem.
        rows: rows checked so far.
    """

    checks: dict[str, tuple[str, ColumnType]]
    key_columns: list[str]
    key_types: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    counts: dict[tuple[str, str | None], int] = field(default_factory=lambda: defaultdict(int))
    rows: int = 0

    def __post_init__(self) -> None:
        self._positions = pa.array([], pa.int64())  # 1, 2, 3, … as long as the longest batch
        self._spill = tempfile.mkdtemp(prefix="vxp-keys-")
        self._con = duckdb.connect()
        # the key hashes of every row go to a DuckDB table that spills to disk past the limit
        self._con.execute(f"SET memory_limit='{MEMORY_LIMIT}'")
        self._con.execute(f"SET temp_directory='{self._spill}'")
        self._con.execute("SET enable_progress_bar=false")
        if self.key_columns:
            # one row per data row, in order, so a row's ordinal is its rowid + 1; null when a
            # key part is null (reported as key.null, never a duplicate)
            self._con.execute("CREATE TABLE keys (h UBIGINT)")
        # one output column per check: (code, column, flag SQL, value SQL or None)
        self._flags: list[tuple[str, str | None, str, str | None]] = [
            (
                "value.type",
                column,
                predicate,
                f"CAST({quote(column)} AS VARCHAR)",
            )
            for column, (predicate, _) in self.checks.items()
        ]
        self._flags += [("key.null", c, f"{quote(c)} IS NULL", None) for c in self.key_columns]
        self._query = ""
        if self._flags:
            # the flags and values are computed for the offending rows only
            select = ", ".join(
                f"{flag} AS f{i}" + (f", {value} AS v{i}" if value else "")
                for i, (_, _, flag, value) in enumerate(self._flags)
            )
            any_flag = " OR ".join(flag for _, _, flag, _ in self._flags)
            self._query = (
                f"SELECT __ordinal, {select} FROM batch "  # noqa: S608
                f"WHERE {any_flag} ORDER BY __ordinal"
            )
        # a key part that is not a value of its type is a value.type problem, never part of a
        # duplicate: its row gets no hash
        typed = [self._typed(c) for c in self.key_columns]
        nulls = " OR ".join(f"{t} IS NULL" for t in typed)
        self._insert = (
            f"INSERT INTO keys SELECT CASE WHEN {nulls} THEN NULL "  # noqa: S608
            f"ELSE hash({', '.join(typed)}) END FROM batch"
        )

    def _typed(self, column: str) -> str:
        """SQL: key ``column`` as the value it is compared as."""
        sql_type = self.key_types.get(column)
        return f"TRY_CAST({quote(column)} AS {sql_type})" if sql_type else quote(column)

    def typed_keys(
        self, values: Mapping[int, tuple[str | None, ...]]
    ) -> dict[int, tuple[Any, ...]]:
        """Key values read as text (ordinal -> one per key column) as the values they are
        compared as (see ``key_types``), for :func:`confirm_duplicates`."""
        if not self.key_types or not values:
            return dict(values)
        ordinals = list(values)
        table = pa.table(
            {
                "__ordinal": pa.array(ordinals, pa.int64()),
                **{
                    c: pa.array([values[o][i] for o in ordinals], pa.string())
                    for i, c in enumerate(self.key_columns)
                },
            }
        )
        self._con.register("texts", table)
        try:
            rows = self._con.execute(
                f"SELECT __ordinal, {', '.join(self._typed(c) for c in self.key_columns)} "  # noqa: S608
                "FROM texts"
            ).fetchall()
        finally:
            self._con.unregister("texts")
        return {int(r[0]): tuple(r[1:]) for r in rows}

    def _message(self, code: str, column: str | None, value: Any) -> str:
        if code == "value.type":
            assert column is not None
            return f"The value {value!r} is not of the declared type {self.checks[column][1]}."
        return "A key column is empty."

    def check(self, batch: pa.RecordBatch) -> None:
        """Check one batch; its rows get the next ordinals."""
        n = batch.num_rows
        if n == 0:
            return
        base = self.rows
        self.rows += n
        if len(self._positions) < n:
            self._positions = pa.array(range(1, n + 1), pa.int64())
        ordinals = pc.add(self._positions.slice(0, n), pa.scalar(base, pa.int64()))
        table = pa.Table.from_batches([batch]).append_column("__ordinal", ordinals)
        self._con.register("batch", table)
        try:
            if self._query:
                self._collect(self._con.execute(self._query).to_arrow_table())
            if self.key_columns:
                self._con.execute(self._insert)
        finally:
            self._con.unregister("batch")

    def _collect(self, bad: pa.Table) -> None:
        """Count the flagged rows per check; keep findings up to the limit."""
        if bad.num_rows == 0:
            return
        found: list[Finding] = []
        for i, (code, column, _, value) in enumerate(self._flags):
            flag = bad.column(f"f{i}")
            count = pc.sum(flag).as_py() or 0
            if not count:
                continue
            before = self.counts[(code, column)]
            self.counts[(code, column)] = before + count
            room = PROBLEM_LIMIT - before
            if room <= 0:
                continue
            rows = bad.filter(flag).slice(0, room)
            ordinals = rows.column("__ordinal").to_pylist()
            values = rows.column(f"v{i}").to_pylist() if value else [None] * len(ordinals)
            found += [
                Finding(code, o, column, self._message(code, column, v))
                for o, v in zip(ordinals, values, strict=True)
            ]
        found.sort(key=lambda x: x.ordinal)
        self.findings += found

    def duplicate_candidates(self) -> list[list[int]]:
        """Groups of row ordinals whose keys hash alike: each a candidate duplicate key, to be
        confirmed on the values with :func:`confirm_duplicates`.

        At most ``PROBLEM_LIMIT + 1`` groups (ordered by first ordinal), each with at most
        ``PROBLEM_LIMIT + 1`` ordinals (the first ones).
        """
        if not self.key_columns:
            return []
        # the repeated hashes first (a plain hash aggregate, which spills; one that also asks
        # for rowid is many times slower), then the ordinals of those few; past REPEATED_LIMIT
        # repeated keys, which are reported is not the first ones by line
        repeated = self._con.execute(
            "SELECT h FROM keys WHERE h IS NOT NULL GROUP BY h HAVING count(*) > 1 "  # noqa: S608
            f"LIMIT {REPEATED_LIMIT}"
        ).to_arrow_table()
        if not repeated.num_rows:
            return []
        self._con.register("repeated", repeated)
        try:
            rows = self._con.execute(
                "SELECT min(rowid) AS first, "  # noqa: S608
                f"list(rowid + 1 ORDER BY rowid)[1:{PROBLEM_LIMIT + 1}] "
                "FROM keys WHERE h IN (SELECT h FROM repeated) GROUP BY h ORDER BY first "
                f"LIMIT {PROBLEM_LIMIT + 1}"
            ).fetchall()
        finally:
            self._con.unregister("repeated")
        return [list(r[1]) for r in rows]

    def close(self) -> None:
        """Release the DuckDB connection and its spill folder."""
        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)


def confirm_duplicates(
    candidates: Sequence[Sequence[int]], values: Mapping[int, tuple[Any, ...]]
) -> list[tuple[tuple[Any, ...], list[int]]]:
    """The duplicate keys among hash ``candidates``: each key with the ordinals of its rows.

    Args:
        candidates: from :meth:`BatchChecker.duplicate_candidates`.
        values: ordinal -> the key values of that row (a candidate without is left out).

    Returns:
        (key values, ordinals) per key given to more than one row, ordered by first ordinal.
    """
    out: list[tuple[tuple[Any, ...], list[int]]] = []
    for group in candidates:
        by_key: dict[tuple[Any, ...], list[int]] = {}
        for o in group:
            if o in values:
                by_key.setdefault(values[o], []).append(o)
        out += [(k, os) for k, os in by_key.items() if len(os) > 1]
    return sorted(out, key=lambda kv: kv[1][0])
