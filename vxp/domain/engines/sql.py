"""``vxp sql``: one statement at a ref, on DuckDB (in-process) or Trino, and its result as a file.

The names a statement uses are the same on both engines:

- ``basel.patients``: namespace ``basel`` and table ``patients`` at the ref given (``--ref``);
- ``clinical."exp-1.basel".patients``: the same table at any other ref of repository
  ``clinical`` (catalog names are repository names with ``-`` as ``_``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import duckdb
import pyarrow as pa

from vxp.core.errors import InvalidInput, NotFound, VxpError
from vxp.core.settings import Settings
from vxp.domain.engines import Engine, trino
from vxp.domain.engines import duckdb as duck
from vxp.domain.refs import resolve
from vxp.lakefs import LakeFSError, Session


class FileFormat(StrEnum):
    """The formats ``vxp sql --output`` writes (:func:`export`)."""

    csv = "csv"
    json = "json"
    parquet = "parquet"


@dataclass(frozen=True)
class Answer:
    """A statement's rows, the engine's time, and the commit the ref named when it started.

    Attributes:
        table: the rows.
        seconds: the engine's wall-clock seconds for the statement.
        engine: which engine ran it.
        ref: the ref as the user named it.
        commit_id: the commit ``ref`` named just before the statement ran.
        moved_to: the commit ``ref`` named just after, when that is another one (the
            statement wrote to the branch, or someone else did meanwhile); None otherwise.
        written: the rows the last statement wrote, when it was a write the engine counts
            (:attr:`vxp.domain.engines.common.Result.written`); None for a read.
        statements: how many statements the SQL held.
    """

    table: pa.Table
    seconds: float
    engine: Engine
    ref: str
    commit_id: str
    moved_to: str | None = None
    written: int | None = None
    statements: int = 1


def run(
    session: Session,
    settings: Settings,
    cache: Path,
    sql: str,
    repository: str,
    ref: str,
    engine: Engine,
) -> Answer:
    """Run ``sql`` at ``ref`` of ``repository``; the ref is checked first for a clear error.

    Args:
        cache: the vxp cache directory (DuckDB's offline extensions live there).
        ref: a branch, tag or commit ID; the engine reads the ref itself, so a branch that
            moves during the statement may be read at a later commit than ``commit_id``.

    Raises:
        InvalidInput: the statement is empty.
        NotFound: no such repository or ref, no catalog URI, or no Trino for
            ``Engine.trino``.
        VxpError: the engine refused the statement (its message says why), or is unreachable.
        duckdb.Error: DuckDB failed to load an extension.
        trino.exceptions.HttpError: Trino answered with an HTTP error (see
            :func:`vxp.domain.engines.trino.query` for the rest Trino's client raises).
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    if not sql.strip():
        raise InvalidInput("the SQL statement is empty")
    commit_id = resolve(session, repository, ref)
    if engine is Engine.duckdb:
        result = duck.query(cache, settings, sql, repository, ref)
    else:
        url = settings.trino_url
        if not url:
            raise NotFound(
                "no Trino here: VXP_TRINO_URL is not set",
                hint="start the full stack (`vxp up --stack full`), or use --engine duckdb",
            )
        result = trino.query(url, sql, repository, ref)
    # a write lands as a new commit of the branch: say so rather than name only the old one
    try:
        after = resolve(session, repository, ref)
    except (NotFound, LakeFSError):
        # the statement ran: only the note on where the ref is now is lost
        after = commit_id
    moved_to = after if after != commit_id else None
    return Answer(
        result.table,
        result.seconds,
        engine,
        ref,
        commit_id,
        moved_to,
        result.written,
        result.statements,
    )


_COPY_OPTIONS = {
    FileFormat.csv: "FORMAT csv, HEADER true",
    FileFormat.json: "FORMAT json, ARRAY true",
    FileFormat.parquet: "FORMAT parquet",
}


def export(
    table: pa.Table, fmt: FileFormat, target: Path, provenance: Mapping[str, str] | None = None
) -> None:
    """Write ``table`` to ``target`` as CSV (with header), a JSON array of objects, or Parquet.

    DuckDB writes all three, so results of both engines come out alike: nested values as JSON
    objects and arrays, decimals as exact numbers, timestamps in ISO form. ``provenance``
    (``vxp.repository``, ``vxp.ref``, ``vxp.commit``, …) goes into a Parquet file's key-value
    metadata, so the file itself says which version it was read from.

    Raises:
        VxpError: the result has no columns, or the file cannot be written.
    """
    if table.num_columns == 0:
        raise VxpError(f"the statement returned no columns; there is nothing to write as {fmt}")
    options = _COPY_OPTIONS[fmt]
    if fmt is FileFormat.parquet and provenance:
        pairs = ", ".join(f"{duck.quote(k)}: {duck.quote(v)}" for k, v in provenance.items())
        options += f", KV_METADATA {{{pairs}}}"
    conn = duckdb.connect()
    try:
        conn.register("result", table)
        conn.execute(f"COPY result TO {duck.quote(str(target))} ({options})")
    except (duckdb.Error, OSError) as exc:
        raise VxpError(f"could not write {target}: {exc}") from exc
    finally:
        conn.close()


def export_bytes(
    table: pa.Table, fmt: FileFormat, provenance: Mapping[str, str] | None = None
) -> bytes:
    """What :func:`export` would write, for printing to standard output.

    Raises:
        VxpError: the result has no columns, or DuckDB cannot write it.
    """
    with tempfile.TemporaryDirectory(prefix="vxp-sql-") as tmp:
        target = Path(tmp) / f"result.{fmt}"
        export(table, fmt, target, provenance)
        return target.read_bytes()


def envelope(answer: Answer, repository: str) -> bytes:
    """The result as one JSON object that says which version it read::

    {"repository": …, "ref": …, "commit": …, "engine": …, "rows": [{…}, …]}

    with ``"moved_to"`` after ``"engine"`` when the ref named another commit after the statement
    (:attr:`Answer.moved_to`).
    """
    import json

    rows = export_bytes(answer.table, FileFormat.json) if answer.table.num_columns else b"[]"
    # the same keys as a Parquet export's provenance, without their prefix
    keys = provenance(answer, repository)
    head = json.dumps({key.removeprefix("vxp."): value for key, value in keys.items()})
    return head[:-1].encode() + b', "rows": ' + rows.strip() + b"}\n"


def provenance(answer: Answer, repository: str) -> dict[str, str]:
    """The keys that name the version a result was read from (``vxp.moved_to`` too when the
    ref moved during the statement)."""
    keys = {
        "vxp.repository": repository,
        "vxp.ref": answer.ref,
        "vxp.commit": answer.commit_id,
        "vxp.engine": str(answer.engine),
    }
    if answer.moved_to is not None:
        keys["vxp.moved_to"] = answer.moved_to
    return keys
