"""SAS transport (``.xpt``, versions 5 and 8) dataset files, read with pyreadstat.

Types come from the file (SAS has two: character and 8-byte numeric):

* character -> ``string``;
* numeric with a date format (``DATE9.``, ``E8601DA.``, ``YYMMDD10.``…) -> ``date`` (SAS
  dates count days from 1960-01-01); with a datetime format (``DATETIME20.``,
  ``E8601DT.``…) -> ``datetime`` (seconds from 1960-01-01T00:00); with a time format
  (``TIME8.``, ``E8601TM.``…) -> ``time`` (seconds from midnight);
* any other numeric -> ``float`` (64-bit).

When the dictionary declares the dataset, each declared type must agree with the file's:
text with text, dates with dates, and any numeric dictionary type (``int``, ``long``, ``real``,
``float``, ``decimal``, ``bool``) with a plain SAS numeric, whose values must then be whole,
0/1, or fit the decimal (``value.type``). Line numbers in problems are record numbers
(1-based, the first observation is 1). Data are read in chunks of ``CHUNK_ROWS`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyreadstat

from ..delivery import DeliveredFile
from ..problems import Problems
from .checks import (
    PROBLEM_LIMIT,
    BatchChecker,
    confirm_duplicates,
    more_problems,
    number_check,
    quote,
)
from .types import ColumnType

CHUNK_ROWS = 100_000

_DATETIME = {"DATETIME", "E8601DT", "B8601DT", "IS8601DT", "DATEAMPM", "DTDATE", "E8601DZ"}
_TIME = {"TIME", "E8601TM", "B8601TM", "IS8601TM", "HHMM", "TOD", "HOUR", "MMSS", "TIMEAMPM"}
_DATE = {
    "DATE", "DAY", "DDMMYY", "MMDDYY", "YYMMDD", "E8601DA", "B8601DA", "IS8601DA", "MONYY",
    "WEEKDATE", "WORDDATE", "YYMON", "JULIAN", "MMYY", "YYQ", "DOWNAME", "YEAR", "MONTH",
}  # fmt: skip


@dataclass(frozen=True)
class XptLayout:
    """The columns of a SAS transport file: names as written, labels and types from the file."""

    columns: list[str]
    labels: dict[str, str]
    types: dict[str, ColumnType]
    rows: int | None


def _file_type(storage: str, fmt: str | None) -> ColumnType:
    if storage == "string":
        return ColumnType("string")
    root = re.sub(r"[\d.]+$", "", (fmt or "").upper())
    if root in _DATETIME:
        return ColumnType("datetime")
    if root in _TIME:
        return ColumnType("time")
    if root in _DATE:
        return ColumnType("date")
    return ColumnType("double")


def inspect_xpt(f: DeliveredFile, problems: Problems) -> XptLayout | None:
    """Read the header of a SAS transport file. ``None`` (and ``file.format``) if unreadable."""
    try:
        _, meta = pyreadstat.read_xport(f.path, metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own and OS errors
        problems.error(
            "file.format", f"Not a readable SAS transport file: {exc}", file=f.relative_path
        )
        return None
    columns = list(meta.column_names)
    types = {
        c: _file_type(meta.readstat_variable_types[c], meta.original_variable_types.get(c))
        for c in columns
    }
    labels = {c: (lbl or "") for c, lbl in zip(columns, meta.column_labels, strict=False)}
    return XptLayout(columns, labels, types, meta.number_rows)


def compatible(declared: ColumnType, in_file: ColumnType) -> bool:
    """Whether a dictionary type can describe a column of a SAS transport file's type."""
    if in_file.kind == "double":
        return declared.kind in ("int", "long", "float", "double", "decimal", "bool")
    return declared.kind == in_file.kind


def _chunks(path: Path, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        data, _ = pyreadstat.read_xport(
            path,
            row_offset=offset,
            row_limit=CHUNK_ROWS,
            output_format="dict",
            disable_datetime_conversion=True,
            usecols=columns,
        )
        n = len(next(iter(data.values()))) if data else 0
        if n == 0:
            return
        yield data
        offset += n
        if n < CHUNK_ROWS:
            return


def _raw_batch(
    data: dict[str, Any], layout: XptLayout, columns: list[str] | None = None
) -> pa.RecordBatch:
    """A chunk as Arrow: text as string ('' -> null, as SAS missing), numerics as float64."""
    arrays = []
    columns = layout.columns if columns is None else columns
    for c in columns:
        values = data[c]
        if layout.types[c].kind == "string":
            arr = pa.array([v if v not in ("", None) else None for v in values], pa.string())
        else:
            arr = pa.array(values, pa.float64(), from_pandas=True)
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, names=columns)


def check_xpt(
    f: DeliveredFile,
    layout: XptLayout,
    columns: dict[str, ColumnType],
    key_columns: list[str],
    problems: Problems,
) -> int:
    """Check the values of a SAS transport file against declared types and its key.

    Args:
        columns: column name as in the file -> declared type.
        key_columns: names as in the file.

    Returns:
        The number of rows.
    """
    checks = {
        c: (pred, t)
        for c, t in columns.items()
        if layout.types[c].kind == "double" and (pred := number_check(c, t)) is not None
    }
    checker = BatchChecker(checks, key_columns)
    try:
        for data in _chunks(f.path):
            checker.check(_raw_batch(data, layout))
    except Exception as exc:
        problems.error("file.format", f"The file cannot be read: {exc}", file=f.relative_path)
    last_line: dict[tuple[str, str | None], int] = {}
    for x in checker.findings:
        problems.error(x.code, x.message, file=f.relative_path, line=x.ordinal, column=x.column)
        last_line[(x.code, x.column)] = max(last_line.get((x.code, x.column), 0), x.ordinal)
    for (code, column), n in checker.counts.items():
        if n > PROBLEM_LIMIT:
            # at the last listed line of its kind, so that it sorts after them
            problems.error(
                code,
                more_problems(n - PROBLEM_LIMIT),
                file=f.relative_path,
                line=last_line.get((code, column)),
                column=column,
            )
    candidates = checker.duplicate_candidates()
    checker.close()
    if candidates:
        values = _key_values(f.path, layout, key_columns, {o for g in candidates for o in g})
        for key, ordinals in confirm_duplicates(candidates, values)[:PROBLEM_LIMIT]:
            for o in ordinals:
                others = ", ".join(str(x) for x in ordinals if x != o)
                problems.error(
                    "key.duplicate",
                    f"The key ({', '.join(map(str, key))}) is also on record(s) {others}.",
                    file=f.relative_path,
                    line=o,
                )
    return checker.rows


def _key_values(
    path: Path, layout: XptLayout, key_columns: list[str], wanted: set[int]
) -> dict[int, tuple[Any, ...]]:
    """Record number -> key values, for the wanted records (a second read of the key columns)."""
    out: dict[int, tuple[Any, ...]] = {}
    base = 0
    for data in _chunks(path, key_columns):
        batch = _raw_batch(data, layout, key_columns)
        rows = zip(*(batch.column(c).to_pylist() for c in key_columns), strict=True)
        for i, row in enumerate(rows, start=base + 1):
            if i in wanted:
                out[i] = tuple(row)
        base += batch.num_rows
    return out


def _sql_cast(src: str, file_type: ColumnType, t: ColumnType) -> str:
    col = quote(src)
    if file_type.kind == "date":
        return f"CAST(DATE '1960-01-01' + CAST({col} AS INTEGER) AS DATE)"
    if file_type.kind == "datetime":
        return f"TIMESTAMP '1960-01-01' + to_microseconds(CAST(round({col} * 1e6) AS BIGINT))"
    if file_type.kind == "time":
        return f"TIME '00:00:00' + to_microseconds(CAST(round({col} * 1e6) AS BIGINT))"
    if t.kind == "bool":
        return f"CAST({col} = 1 AS BOOLEAN)"
    return f"CAST({col} AS {t.to_duckdb()})"


def read_xpt_batches(
    f: DeliveredFile | Path,
    layout: XptLayout,
    columns: dict[str, tuple[str, ColumnType]],
) -> Iterator[pa.RecordBatch]:
    """Stream typed batches (``CHUNK_ROWS`` rows each) of a validated SAS transport file.

    Args:
        columns: name in the file -> (output column name, type), in output order.
    """
    path = f.path if isinstance(f, DeliveredFile) else f
    schema = pa.schema([(name, t.to_arrow()) for name, t in columns.values()])
    select = ", ".join(
        f"{_sql_cast(src, layout.types[src], t)} AS {quote(name)}"
        for src, (name, t) in columns.items()
    )
    con = duckdb.connect()
    try:
        for data in _chunks(path):
            con.register("batch", pa.Table.from_batches([_raw_batch(data, layout)]))
            result = con.execute(f"SELECT {select} FROM batch").to_arrow_table()  # noqa: S608
            con.unregister("batch")
            yield from result.cast(schema).to_batches()
    finally:
        con.close()
