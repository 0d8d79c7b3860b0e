"""CSV dataset files: checked and read as RFC 4180 CSV.

* Dialect: RFC 4180 (fields quoted with ``"``, a quote inside doubled, line breaks allowed
  inside quoted fields, CRLF or LF line ends). The delimiter is given, or sniffed from the
  first 64 KiB among ``,`` ``;`` tab and ``|`` (``,`` when the sniffer cannot tell).
* Encoding: any Python codec that is ASCII-compatible (``utf-8``, ``latin-1``, ``cp1252``…);
  a UTF-8 byte order mark is skipped. Bytes that do not decode are ``file.encoding`` problems,
  one per line.
* The first record is the header. Empty fields are null. Blank lines are skipped.

Data are parsed by pyarrow's streaming CSV reader (all columns as text) and checked in
DuckDB batch by batch (``TRY_CAST``, every column in one query), so memory is bounded by the
batch size, not the file size. A UTF-8 file is not decoded separately: pyarrow checks UTF-8 as
it reads, and only when it finds a bad byte is the file scanned for the lines to report and
read again with the bad bytes replaced. Line numbers in problems are physical lines: when there
is something to report, one more pass with Python's ``csv`` module maps row ordinals to the
line their record starts on (and gives the key values that confirm duplicate keys).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from ..delivery import DeliveredFile
from ..problems import Problems
from .checks import (
    PROBLEM_LIMIT,
    BatchChecker,
    Finding,
    confirm_duplicates,
    more_problems,
    quote,
    text_check,
)
from .types import ColumnType

SNIFF_BYTES = 1 << 16
BLOCK_SIZE = 1 << 21  # pyarrow block: the unit of memory of the stream (plus one batch)


@dataclass
class CsvLayout:
    """How to read a CSV file: its header (as written), delimiter and encoding.

    ``clean`` is False once a byte was found that does not decode (the file is then read with
    such bytes replaced by U+FFFD); :func:`check_csv` may find that and clear it.
    """

    header: list[str]
    delimiter: str
    encoding: str
    clean: bool  # every byte decoded (as far as known)


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


class _Recoding(io.RawIOBase):
    """A byte stream that decodes ``raw`` with ``encoding`` (bad bytes -> U+FFFD) and yields
    UTF-8, for pyarrow, which reads UTF-8 only."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            self._pending = self._decoder.decode(chunk, final=not chunk).encode("utf-8")
            if not chunk:
                break
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _open_text_bytes(path: Path, layout: CsvLayout) -> IO[bytes]:
    """The file as UTF-8 bytes (the file itself when it is clean UTF-8)."""
    raw = path.open("rb")
    if layout.clean and _is_utf8(layout.encoding):
        return raw
    return io.BufferedReader(_Recoding(raw, layout.encoding))


def _check_encoding(f: DeliveredFile, encoding: str, problems: Problems) -> bool:
    """Report lines with undecodable bytes (streaming, 1 MiB blocks of whole lines)."""
    clean = True
    reported = 0
    last_reported = 0
    line_base = 1
    rest = b""
    with f.path.open("rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            data = rest + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            block, rest = data[:cut], data[cut:]
            try:
                block.decode(encoding)
            except UnicodeDecodeError:
                clean = False
                for i, line in enumerate(block.split(b"\n")):
                    try:
                        line.decode(encoding)
                    except UnicodeDecodeError as exc:
                        reported += 1
                        if reported <= PROBLEM_LIMIT:
                            last_reported = line_base + i
                            problems.error(
                                "file.encoding",
                                f"Byte 0x{line[exc.start]:02x} at position {exc.start + 1} "
                                f"is not valid {encoding.removesuffix('-sig')}; give the "
                                "right --encoding or fix the file.",
                                file=f.relative_path,
                                line=line_base + i,
                            )
            line_base += block.count(b"\n")
            if not chunk:
                break
    if reported > PROBLEM_LIMIT:
        problems.error(
            "file.encoding",
            more_problems(reported - PROBLEM_LIMIT, "lines with undecodable bytes"),
            file=f.relative_path,
            line=last_reported,
        )
    return clean


def inspect_csv(
    f: DeliveredFile,
    problems: Problems,
    *,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> CsvLayout | None:
    """Check the encoding, sniff the delimiter and read the header of a CSV file.

    Returns:
        The layout, or ``None`` when there is no header (``file.empty`` is reported).
    """
    utf8 = _is_utf8(encoding)
    if utf8:
        encoding = "utf-8-sig"  # tolerate a byte order mark
    with f.path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    sample = head.decode(encoding, errors="replace")
    if utf8:
        # pyarrow checks the data rows as it reads (check_csv); the header it skips is
        # checked here, with the rest of the sample's whole lines
        whole = head if len(head) < SNIFF_BYTES else head[: head.rfind(b"\n") + 1]
        try:
            whole.decode(encoding)
            clean = True
        except UnicodeDecodeError:
            clean = _check_encoding(f, encoding, problems)
    else:
        clean = _check_encoding(f, encoding, problems)
    if not sample.strip():
        problems.error("file.empty", "The file holds no header and no rows.", file=f.relative_path)
        return None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample.split("\n", 20)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter))
    return CsvLayout([h.strip() for h in header], delimiter, encoding, clean)


def _reader(f: DeliveredFile, layout: CsvLayout, invalid: list[int]) -> pacsv.CSVStreamingReader:
    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row.actual_columns)
        return "skip"

    return pacsv.open_csv(
        _open_text_bytes(f.path, layout),
        read_options=pacsv.ReadOptions(
            column_names=layout.header, skip_rows=1, block_size=BLOCK_SIZE, use_threads=True
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=layout.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(layout.header, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
        ),
    )


def check_csv(
    f: DeliveredFile,
    layout: CsvLayout,
    columns: dict[str, ColumnType],
    key_columns: list[str],
    problems: Problems,
) -> int:
    """Check every row of a CSV file whose header passed: ragged rows, values of the declared
    types, nulls in key columns, duplicate keys, undecodable bytes. Reports with physical line
    numbers.

    Args:
        layout: from :func:`inspect_csv`; ``clean`` is cleared when bytes do not decode.
        columns: header name (as in the file) -> declared type, for the columns to check.
        key_columns: header names of the key columns.

    Returns:
        The number of good data rows.
    """
    checks = {c: (pred, t) for c, t in columns.items() if (pred := text_check(c, t)) is not None}
    # keys compare as their types' values: "01" and "1" are one int key
    key_types = {c: columns[c].to_duckdb() for c in key_columns if c in checks}
    while True:
        checker = BatchChecker(checks, key_columns, key_types)
        invalid: list[int] = []
        try:
            for batch in _reader(f, layout, invalid):
                checker.check(batch)
        except pa.ArrowInvalid as exc:
            if layout.clean and "UTF8" in str(exc):
                # a byte that is not UTF-8: report its lines, then check again with it replaced
                checker.close()
                layout.clean = _check_encoding(f, layout.encoding, problems)
                if not layout.clean:
                    continue
            problems.error(
                "file.format", f"The file cannot be parsed as CSV: {exc}", file=f.relative_path
            )
        except OSError as exc:
            problems.error(
                "file.format", f"The file cannot be parsed as CSV: {exc}", file=f.relative_path
            )
        break
    candidates = checker.duplicate_candidates()
    findings = list(checker.findings)
    # the line of the last listed problem of each (code, column): its summary row goes there
    last_line: dict[tuple[str, str | None], int] = {}
    if findings or invalid or candidates:
        keys = [layout.header.index(c) for c in key_columns]
        wanted = {x.ordinal for x in findings} | {o for group in candidates for o in group}
        lines, values = _lines_of(f, layout, wanted, keys, problems)
        typed = checker.typed_keys({o: values[o] for g in candidates for o in g if o in values})
        duplicates = confirm_duplicates(candidates, typed)
        for _, ordinals in duplicates[:PROBLEM_LIMIT]:
            shown = ", ".join(map(str, values[ordinals[0]]))
            findings.extend(
                Finding("key.duplicate", o, None, f"The key ({shown}) is also on") for o in ordinals
            )
        for x in findings:
            line = lines.get(x.ordinal)
            message = x.message
            if x.code == "key.duplicate":
                same = next(o for k, o in duplicates if x.ordinal in o)
                others = [str(lines.get(o, "?")) for o in same if o != x.ordinal]
                message = f"{x.message} line(s) {', '.join(others)}."
            problems.error(x.code, message, file=f.relative_path, line=line, column=x.column)
            if line is not None:
                kind = (x.code, x.column)
                last_line[kind] = max(last_line.get(kind, 0), line)
    for (code, column), n in sorted(
        checker.counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        if n > PROBLEM_LIMIT:
            problems.error(
                code,
                more_problems(n - PROBLEM_LIMIT),
                file=f.relative_path,
                line=last_line.get((code, column)),
                column=column,
            )
    if len(candidates) > PROBLEM_LIMIT:
        problems.error("key.duplicate", "… and more duplicate keys.", file=f.relative_path)
    checker.close()
    return checker.rows


def _lines_of(
    f: DeliveredFile,
    layout: CsvLayout,
    wanted: set[int],
    keys: Sequence[int],
    problems: Problems,
) -> tuple[dict[int, int], dict[int, tuple[str, ...]]]:
    """One pass with Python's csv module: physical start line and the values of the fields at
    ``keys`` of each wanted row ordinal; reports ragged rows (``row.ragged``) on the way."""
    out: dict[int, int] = {}
    values: dict[int, tuple[str, ...]] = {}
    width = len(layout.header)
    ordinal = 0
    ragged = 0
    last_ragged = 0
    with _open_text_bytes(f.path, layout) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text, delimiter=layout.delimiter)
        last = 0
        for i, record in enumerate(reader):
            start, last = last + 1, reader.line_num
            if i == 0 or not record:
                continue
            if len(record) != width:
                ragged += 1
                if ragged <= PROBLEM_LIMIT:
                    last_ragged = start
                    problems.error(
                        *_ragged(record, width, start, reader.line_num),
                        file=f.relative_path,
                        line=start,
                    )
                continue
            ordinal += 1
            if ordinal in wanted:
                out[ordinal] = start
                values[ordinal] = tuple(record[k] for k in keys)
    if ragged > PROBLEM_LIMIT:
        problems.error(
            "row.ragged",
            more_problems(ragged - PROBLEM_LIMIT, "rows with the wrong number of fields"),
            file=f.relative_path,
            line=last_ragged,
        )
    return out, values


def _ragged(record: Sequence[str], width: int, start: int, end: int) -> tuple[str, str]:
    """Code and message of a row whose field count is not the header's (lines ``start`` to
    ``end``). A row that runs over several lines with a line break inside a field most likely
    has a quote that is never closed (RFC 4180: a quoted field runs to its closing quote), which
    is what the user must fix, not the number of fields."""
    if end > start and any("\n" in value or "\r" in value for value in record):
        return (
            "row.unclosed_quote",
            f"Unclosed quote starting at line {start}: the row runs to line {end} "
            f'({len(record)} fields, the header {width}); close the quote or double it ("").',
        )
    return "row.ragged", f"The row has {len(record)} fields, the header {width}."


def read_csv_batches(
    f: DeliveredFile | Path,
    layout: CsvLayout,
    columns: dict[str, tuple[str, ColumnType]],
) -> Iterator[pa.RecordBatch]:
    """Stream typed batches of a *validated* CSV file.

    Args:
        f: the file.
        layout: from :func:`inspect_csv`.
        columns: header name -> (output column name, type), in output order.

    Yields:
        Record batches with the output names and the types' Arrow types (about
        ``BLOCK_SIZE`` bytes of text each).

    Raises:
        ValueError: a row does not parse or a value does not cast (the file was not validated).
    """
    df = f if isinstance(f, DeliveredFile) else DeliveredFile(f.name, f, f.stat().st_size)
    schema = pa.schema([(name, t.to_arrow()) for name, t in columns.values()])
    invalid: list[int] = []
    con = duckdb.connect()
    select = ", ".join(
        f"CAST({quote(src)} AS {t.to_duckdb()}) AS {quote(name)}"
        for src, (name, t) in columns.items()
    )
    try:
        for batch in _reader(df, layout, invalid):
            if invalid:
                raise ValueError(f"{df.relative_path}: ragged rows; validate the file first")
            con.register("batch", pa.Table.from_batches([batch]))
            result = con.execute(f"SELECT {select} FROM batch").to_arrow_table()  # noqa: S608
            con.unregister("batch")
            yield from result.cast(schema).to_batches()
    except duckdb.ConversionException as exc:
        raise ValueError(f"{df.relative_path}: {exc}; validate the file first") from exc
    finally:
        con.close()
