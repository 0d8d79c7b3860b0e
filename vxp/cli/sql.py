"""``vxp sql "…" --ref REF``: query (or write) the tables of any branch, tag or commit."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import RepoOption, repository
from vxp.core.errors import InvalidInput, VxpError
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.engines import Engine

if TYPE_CHECKING:
    import pyarrow as pa

# heavy libraries (pyiceberg, DuckDB, pyarrow) are imported when a command runs, so the
# other `vxp` commands start fast

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})

# the terminal table shows this many rows; files (--output, csv, json) get all of them
SHOWN_ROWS = 1000


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def sql(
    statement: Annotated[
        str,
        typer.Argument(
            metavar="SQL",
            help='The statement, or "-" to read it from standard input. Tables are '
            'namespace.table at --ref (basel.patients), and REPO."REF.namespace".table at any '
            "other ref (clinical.\"exp-1.basel\".patients; '-' in REPO becomes '_').",
        ),
    ],
    ref: Annotated[
        str, typer.Option("--ref", help="branch, tag (snapshot) or commit ID")
    ] = DEFAULT_BRANCH,
    repo: RepoOption = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            "-e",
            help="duckdb: in-process, every stack. trino: the full stack's Trino server.",
        ),
    ] = Engine.duckdb,
    format: Annotated[
        SqlFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="table (terminal), csv, json (an array of objects) or parquet (needs "
            "--output). Default: from the --output suffix, else table.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the result to this file")
    ] = None,
    envelope: Annotated[
        bool,
        typer.Option(
            "--envelope",
            help="with --format json: one object {repository, ref, commit, engine, rows} that "
            "says which version the rows were read from (and moved_to: the branch's commit "
            "after a statement that wrote to it)",
        ),
    ] = False,
) -> None:
    """Run SQL on the Iceberg tables of a branch, tag or commit, with DuckDB or Trino.

    Reads work at any ref; writes (CREATE TABLE … AS, INSERT) only on branches.

    Each write is a lakeFS commit on the branch.

    Example: vxp sql "SELECT site, count(*) FROM basel.patients GROUP BY site" --ref v1
    """
    from vxp.core.home import Home
    from vxp.domain.engines import sql as engines

    text = sys.stdin.read() if statement == "-" else statement
    chosen = _format(format, output)
    answer = engines.run(
        session(), settings(), Home.from_env().cache, text, repository(repo), ref, engine
    )
    err = Console(stderr=True)
    if answer.written is None:
        counted = _rows(answer.table.num_rows)
    else:
        counted = f"{_rows(answer.written)} written"
        if answer.statements > 1:
            counted += f" by the last of {answer.statements} statements"
    summary = (
        f"{counted} in {answer.seconds:.2f}s "
        f"({answer.engine}, {answer.ref} at {answer.commit_id[:12]})"
    )
    if answer.moved_to is not None:
        summary += f"; {answer.ref} is now at {answer.moved_to[:12]} (written during the statement)"
    elif answer.written == 0:
        summary += "; nothing changed, so no commit"
    if envelope and chosen is not SqlFormat.json:
        raise InvalidInput("--envelope needs --format json")
    if chosen is SqlFormat.table:
        _print_table(answer.table, f"{repository(repo)} @ {answer.ref} ({answer.commit_id[:12]})")
        err.print(summary, style="dim", highlight=False)
        return
    fmt = engines.FileFormat(chosen.value)
    provenance = engines.provenance(answer, repository(repo))
    if envelope:
        data = engines.envelope(answer, repository(repo))
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        output.write_bytes(data)
    elif output is None:
        sys.stdout.buffer.write(engines.export_bytes(answer.table, fmt, provenance))
        sys.stdout.flush()
        return
    else:
        engines.export(answer.table, fmt, output, provenance)
    err.print(f"{summary}; wrote {output}", style="dim", highlight=False)


def _format(format: SqlFormat | None, output: Path | None) -> SqlFormat:
    if format is None:
        if output is None:
            return SqlFormat.table
        suffix = output.suffix.lstrip(".").lower()
        if suffix not in {"csv", "json", "parquet"}:
            raise VxpError(
                f"cannot tell the format of {output} from its suffix",
                hint="pass --format csv, json or parquet",
            )
        return SqlFormat(suffix)
    if format is SqlFormat.table and output is not None:
        raise VxpError(
            "--format table is for the terminal", hint="write a file with csv, json or parquet"
        )
    if format is SqlFormat.parquet and output is None:
        raise VxpError("Parquet is a binary format", hint="pass --output FILE.parquet")
    return format


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _print_table(result: pa.Table, title: str) -> None:
    console = Console()
    if result.num_columns == 0:
        return
    # the header names the version the rows come from
    table = Table(*(escape(name) for name in result.column_names), title=escape(title))
    shown = result.slice(0, SHOWN_ROWS)
    # by column, not as dicts: a result may repeat a column name
    columns = [column.to_pylist() for column in shown.columns]
    for row in zip(*columns, strict=True):
        table.add_row(*("[dim]NULL[/dim]" if v is None else escape(str(v)) for v in row))
    console.print(table)
    if result.num_rows > SHOWN_ROWS:
        Console(stderr=True).print(
            f"showing the first {SHOWN_ROWS} of {result.num_rows} rows; "
            "--output FILE or --format csv|json gets all of them",
            style="yellow",
        )
