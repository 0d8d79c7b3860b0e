"""``vxp materialize``: lockfiles → BIDS folders, CSVs, plain files
(docs/reference/materializers.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vxp.cli.context import settings
from vxp.cli.ingest import _Bars
from vxp.cli.options import OutputFormat, print_json
from vxp.core.errors import InvalidInput, VxpError

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


def _options(pairs: list[str], bids_map: Path | None) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    bad = []
    for pair in pairs:
        name, dot, rest = pair.partition(".")
        key, eq, value = rest.partition("=")
        if not (dot and eq and name and key):
            bad.append(pair)
            continue
        options.setdefault(name, {})[key] = value
    if bad:
        raise InvalidInput(
            "options must be NAME.KEY=VALUE: " + ", ".join(repr(b) for b in bad),
            hint="e.g. -O bids.map=bids-map.yaml",
        )
    if bids_map is not None:
        options.setdefault("bids", {})["map"] = str(bids_map)
    return options


def _list() -> None:
    from vxp.datasets.materialize import available_materializers

    table = Table("name", "what it writes", "class")
    for name, cls in available_materializers().items():
        where = f"{cls.__module__}.{cls.__name__}"
        table.add_row(name, str(getattr(cls, "description", "")), where)
    Console().print(table)


@app.command()
def materialize(
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            "-f",
            help="a lockfile, `resources.<split>.jsonl` (repeatable; all are materialized at once)",
        ),
    ] = None,
    materializers: Annotated[
        list[str] | None,
        typer.Option(
            "--materializer", "-m", help="files, clinical-to-csv, bids or a plugin (repeatable)"
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="the folder to write (new or empty; an interrupted run's folder is resumed)",
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=64, help="parallel downloads")
    ] = 8,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", "-O", help="a materializer option NAME.KEY=VALUE, e.g. bids.name=Basel"
        ),
    ] = None,
    bids_map: Annotated[
        Path | None,
        typer.Option(
            "--bids-map",
            exists=True,
            dir_okay=False,
            help="YAML rules mapping series to BIDS suffixes (same as -O bids.map=FILE)",
        ),
    ] = None,
    copy: Annotated[
        bool,
        typer.Option(
            "--copy", help="copy files out of the cache instead of hardlinking them (writable)"
        ),
    ] = False,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate",
            help="run the BIDS validator on the bids output; exit 1 when it reports errors",
        ),
    ] = False,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json for scripts")
    ] = OutputFormat.table,
    list_: Annotated[
        bool, typer.Option("--list", help="list the available materializers and exit")
    ] = False,
) -> None:
    """Materialize lockfiles: read every locked resource at its pinned commit, verify every
    sha256, download in parallel through the local cache ($VXP_CACHE/objects; outputs are
    hardlinks where the file system allows), and write one folder per materializer:
    DIR/files/, DIR/clinical-to-csv/, DIR/bids/. Run it again on the same DIR to resume an
    interrupted run. Run records and OpenLineage events go to DIR/.vxp/.

    Example: vxp materialize -f resources.train.jsonl -m bids -m clinical-to-csv -o train/
    """
    if list_:
        _list()
        return
    if not files:
        raise InvalidInput("no lockfile given", hint="pass -f resources.<split>.jsonl")
    if output is None:
        raise InvalidInput("no output folder given", hint="pass -o DIR")
    names = materializers or []
    if validate and "bids" not in names:
        raise InvalidInput("--validate checks the bids output", hint="add -m bids")
    from vxp.datasets.materialize import materialize as run

    err = Console(stderr=True)
    progress: Any = _Bars(err) if format is OutputFormat.table else None
    try:
        report = run(
            files,
            names,
            output,
            settings=settings(),
            jobs=jobs,
            options=_options(option or [], bids_map),
            link=not copy,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    body = report.to_json()
    failed = False
    if validate:
        from vxp.datasets.materialize.bids import validate_bids

        checked = validate_bids(report.output / "bids")
        body["bids_validation"] = {"errors": checked.errors, "warnings": checked.warnings}
        failed = not checked.valid
    if format is OutputFormat.json:
        print_json(body)
    else:
        _print(body, Console())
    if failed:
        raise VxpError(
            f"the BIDS validator reports {len(body['bids_validation']['errors'])} error(s) in "
            f"{report.output / 'bids'}",
            hint="see the list above; a rule in --bids-map can skip or rename series",
        )


def _print(body: dict[str, Any], console: Console) -> None:
    table = Table("materializer", "folder", "files", "skipped", title="vxp materialize")
    for name, result in body["materializers"].items():
        table.add_row(
            name, f"{body['output']}/{name}", str(result["files"]), str(len(result["skipped"]))
        )
    console.print(table)
    for name, result in body["materializers"].items():
        for line in result["skipped"][:10]:
            console.print(f"[dim]{name}: skipped {line}[/dim]", highlight=False)
        if len(result["skipped"]) > 10:
            console.print(f"[dim]{name}: … and {len(result['skipped']) - 10} more[/dim]")
    downloaded = body["downloaded"]
    commits = ", ".join(f"{c['repository']}@{c['commit'][:12]}" for c in body["commits"])
    console.print(
        f"{body['resources']} resources at {commits}; downloaded {downloaded['files']} files "
        f"({downloaded['bytes']:,} bytes), {body['cached']} from the cache"
        + (" (resumed)" if body["resumed"] else "")
        + f" in {body['seconds']:.1f} s",
        highlight=False,
    )
    if "bids_validation" in body:
        checked = body["bids_validation"]
        for line in checked["errors"]:
            console.print(f"[red]BIDS error[/red] {line}", highlight=False)
        console.print(
            f"BIDS validator: {len(checked['errors'])} errors, {len(checked['warnings'])} warnings",
            highlight=False,
        )
    console.print(f"[green]✓[/green] materialized into {body['output']}", highlight=False)
