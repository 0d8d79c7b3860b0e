"""``vxp lineage TABLE``: where a table's rows came from, at any ref."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.tree import Tree

from vxp.cli.context import session
from vxp.cli.options import RepoOption, print_json, repository
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.lineage import LineageGraph, read_events, upstream
from vxp.domain.refs import resolve

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


class LineageFormat(StrEnum):
    text = "text"
    json = "json"
    dot = "dot"


@app.command()
def lineage(
    table: Annotated[str, typer.Argument(help="namespace.table, e.g. basel.dm")],
    ref: Annotated[
        str, typer.Option("--ref", help="branch, tag or commit to read")
    ] = DEFAULT_BRANCH,
    repo: RepoOption = None,
    format: Annotated[
        LineageFormat,
        typer.Option("--format", "-f", help="text (a tree), json, or dot (Graphviz)"),
    ] = LineageFormat.text,
) -> None:
    """Show the upstream of a table: the runs that wrote it and the files and tables they read,
    from the OpenLineage events committed under _vxp/lineage/ at the ref.

    Examples:

        vxp lineage basel.dm --repo clinical

        vxp lineage basel.vs_history --ref v1 --format dot | dot -Tsvg > lineage.svg
    """
    name = repository(repo)
    commit = resolve(session(), name, ref)
    graph = upstream(read_events(session(), name, commit), table)
    if format is LineageFormat.json:
        print_json({"repository": name, "ref": ref, "commit": commit, **graph.to_json()})
    elif format is LineageFormat.dot:
        typer.echo(graph.to_dot(), nl=False)
    else:
        Console().print(_tree(graph, f"{table} at {ref} ({commit[:12]})"))


def _tree(graph: LineageGraph, title: str) -> Tree:
    parents: dict[str, list[str]] = {}
    for source, target in graph.edges:
        parents.setdefault(target, []).append(source)
    root = Tree(f"[bold]{title}[/bold]")

    def grow(node: str, branch: Tree, seen: frozenset[str]) -> None:
        for parent in sorted(parents.get(node, ())):
            kind = graph.nodes.get(parent, "")
            child = branch.add(f"{parent} [dim]({kind})[/dim]")
            if parent not in seen:
                grow(parent, child, seen | {parent})

    grow(graph.table, root, frozenset({graph.table}))
    return root
