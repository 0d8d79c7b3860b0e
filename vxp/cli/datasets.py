"""``vxp datasets list | show | lock | check``: the recipe registry, lockfiles pinned to a commit,
and leakage between splits (docs/tutorials/first-recipe.md, docs/reference/lockfile.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import settings
from vxp.cli.options import OutputFormat, RepoOption, print_done, print_json, repository
from vxp.core.errors import InvalidInput
from vxp.core.names import DEFAULT_BRANCH

if TYPE_CHECKING:
    from vxp.datasets.registry import Registry

app = typer.Typer(
    help="Dataset recipes and their lockfiles: the shared registry (recipes/datasets.yaml), "
    "`lock` to pin what a recipe selects to one commit, `check` for subjects leaking between "
    "splits.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        envvar="VXP_REGISTRY",
        show_envvar=True,
        help="the registry file (default: recipes/datasets.yaml here or in a folder above)",
    ),
]
# no short form: -f is the recipe file of `lock` (as it is the lockfile of `vxp materialize`)
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table for people, json for scripts")
]


def _registry(path: Path | None) -> Registry:
    from vxp.datasets.registry import find_registry, load_registry

    return load_registry(path if path is not None else find_registry())


@app.command("list")
def list_datasets(
    registry: RegistryOption = None, format: FormatOption = OutputFormat.table
) -> None:
    """List the registered recipes: name, version, description, script.

    Example: vxp datasets list
    """
    loaded = _registry(registry)
    if format is OutputFormat.json:
        print_json([e.to_json() for e in loaded])
        return
    table = Table("name", "version", "script", title=f"datasets of {escape(str(loaded.path))}")
    table.add_column("description", ratio=1)
    for entry in loaded:
        table.add_row(
            escape(entry.name),
            str(entry.version),
            escape(entry.script_location),
            escape(entry.description),
        )
    Console().print(table)


@app.command()
def show(
    dataset: Annotated[str, typer.Argument(help="NAME (its newest version) or NAME@VERSION")],
    registry: RegistryOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Show one registered recipe: its entry, the recipe file's sha256, the other versions.

    Example: vxp datasets show basel-t2-clinical
    """
    loaded = _registry(registry)
    entry = loaded.get(dataset)
    versions = [e.version for e in loaded.versions(entry.name)]
    sha256 = entry.sha256()
    if format is OutputFormat.json:
        print_json({**entry.to_json(), "sha256": sha256, "versions": versions})
        return
    table = Table(show_header=False, title=escape(entry.spec))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("name", escape(entry.name))
    table.add_row("version", str(entry.version))
    table.add_row("description", escape(entry.description))
    table.add_row("script", escape(f"{entry.script_location} ({entry.path})"))
    table.add_row("sha256", sha256)
    table.add_row("versions", ", ".join(map(str, versions)))
    table.add_row("registry", escape(f"{loaded.path}:{entry.line}"))
    Console().print(table)
    Console().print(
        f"lock it: vxp datasets lock {escape(entry.spec)} --repo REPO [--ref REF]", highlight=False
    )


@app.command()
def lock(
    dataset: Annotated[
        str | None,
        typer.Argument(help="a registered NAME or NAME@VERSION (or use --file)"),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="lock the recipe in this Python file")
    ] = None,
    entrypoint: Annotated[
        str | None,
        typer.Option(help="the recipe function, when the file has several entrypoints"),
    ] = None,
    repo: RepoOption = None,
    ref: Annotated[
        str, typer.Option("--ref", "-r", help="branch, tag or commit to pin (its commit ID)")
    ] = DEFAULT_BRANCH,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="the lock's folder (default ./NAME, or ./NAME-vVERSION); an earlier lock there "
            "is replaced",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="seconds the recipe may run before it is stopped", min=0.001)
    ] = 1800.0,
    allow_leakage: Annotated[
        bool,
        typer.Option(
            "--allow-leakage",
            help="write the lock even when a subject's resources are in two splits",
        ),
    ] = False,
    registry: RegistryOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Run a recipe at one commit and write its lockfiles: resources.SPLIT.jsonl per split and
    dataset.lock.json. The same recipe at the same commit gives byte-identical files; any
    problem (the recipe raises, returns the wrong shape, selects unknown ids, leaks a subject,
    runs too long) writes nothing.

    Examples:

        vxp datasets lock --file recipe.py --repo clinical --ref v1

        vxp datasets lock basel-t2-clinical@1 --repo clinical -o locks/t2
    """
    from vxp.datasets.lock import lock as run_lock

    if (dataset is None) == (file is None):
        raise InvalidInput(
            "name a registered dataset or pass --file, not both"
            if dataset is not None
            else "nothing to lock",
            hint="vxp datasets lock NAME[@VERSION] or vxp datasets lock --file recipe.py",
        )
    name = version = label = None
    if dataset is not None:
        entry = _registry(registry).get(dataset)
        file, name, version, label = entry.path, entry.name, entry.version, entry.script_location
    assert file is not None
    result = run_lock(
        file,
        settings=settings(),
        repository=repository(repo),
        ref=ref,
        output=output,
        name=name,
        version=version,
        entrypoint=entrypoint,
        recipe_label=label,
        timeout=timeout,
        allow_leakage=allow_leakage,
    )
    if format is OutputFormat.json:
        print_json(result.to_json())
        return
    table = Table("split", "resources", "file", "sha256")
    for split in result.splits:
        table.add_row(escape(split.name), f"{split.count:,}", escape(split.file), split.sha256)
    Console().print(table)
    leaked = result.leakage.get("subjects") or {}
    if leaked:
        Console(stderr=True).print(
            f"[yellow]warning:[/yellow] {len(leaked)} subject(s) are in more than one split "
            "(--allow-leakage); dataset.lock.json lists them",
            highlight=False,
        )
    version_text = "" if result.version is None else f"@{result.version}"
    print_done(
        f"locked {escape(result.name)}{version_text} at {escape(result.ref)} "
        f"({result.commit[:12]}) of {escape(result.repository)} into "
        f"{escape(str(result.directory))}"
    )


@app.command()
def check(
    locks: Annotated[
        list[Path],
        typer.Argument(
            help="one lock (its folder, its dataset.lock.json or a resources.SPLIT.jsonl) to "
            "check within, or two to check against each other"
        ),
    ],
    train: Annotated[
        list[str] | None,
        typer.Option(
            "--train",
            help="a split name that is training (repeatable; default: train, training)",
        ),
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Report subjects that leak: within one lock, subjects in two splits; across two locks,
    subjects in a training split of one and another split of the other. Exit status 1 when
    any subject leaks.

    Examples:

        vxp datasets check locks/t2

        vxp datasets check locks/t2 locks/over-50 --train train --train val
    """
    from vxp.datasets.leakage import (
        TRAINING_SPLITS,
        cross_leaks,
        describe,
        find_leakage,
        read_split_ids,
    )

    if len(locks) not in (1, 2):
        raise InvalidInput(f"pass one or two locks, not {len(locks)}")
    if len(locks) == 1:
        leakage = find_leakage(read_split_ids(locks[0]))
        problems = leakage.problems()
        data: object = leakage.to_json()
    else:
        a, b = (read_split_ids(p) for p in locks)
        leaks = cross_leaks(a, b, training=train or TRAINING_SPLITS)
        problems = describe(leaks, str(locks[0]), str(locks[1]))
        data = [leak.to_json() for leak in leaks]
    if format is OutputFormat.json:
        print_json(data)
    else:
        console = Console()
        for problem in problems:
            console.print(f"[red]leak:[/red] {escape(problem)}", highlight=False)
        if not problems:
            print_done("no subject leaks between " + " and ".join(escape(str(p)) for p in locks))
        else:
            console.print(f"{len(problems)} leak(s)", highlight=False)
    if problems:
        raise typer.Exit(1)
