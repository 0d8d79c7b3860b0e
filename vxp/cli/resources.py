"""``vxp resources list | show``: the resources (``vxp.resources``) at a ref, read through
``vxp_client`` so the command and a notebook see the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import settings
from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_json, repository
from vxp.core.names import DEFAULT_BRANCH

if TYPE_CHECKING:
    from vxp.ingestion.resources import Resource

app = typer.Typer(
    help="The resources at any branch, tag or commit: trials, subjects, visits, DICOM studies "
    "and series, volumes, documents, files (docs/reference/resources.md).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

RefOption = Annotated[
    str, typer.Option("--ref", "-r", help="branch, tag (snapshot) or commit to read")
]

TYPES = "Trial, Subject, Visit, DICOMStudy, DICOMSeries, Volume, Document, File"


def resource_json(resource: Resource) -> dict[str, Any]:
    """A resource as JSON: its columns, ``attributes`` as an object, and its ``version``."""
    return {
        "id": resource.id,
        "type": resource.type.value,
        "parent_id": resource.parent_id,
        "source": resource.source,
        "version": resource.version,
        "attributes": dict(resource.attributes),
        "paths": list(resource.paths),
        "checksum": resource.checksum,
        "size_bytes": resource.size_bytes,
    }


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size:,}"


@app.command("list")
def list_resources(
    type: Annotated[
        str | None, typer.Option("--type", "-t", help=f"only this type: {TYPES}")
    ] = None,
    under: Annotated[
        str | None,
        typer.Option("--under", "-u", help="only the descendants of this id, at any depth"),
    ] = None,
    ref: RefOption = DEFAULT_BRANCH,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """List the current resources at REF, sorted by id.

    Examples:

        vxp resources list --repo imaging

        vxp resources list --type DICOMSeries --under trial/basel/subject/P-7

        vxp resources list --ref v1 --format json > resources.json
    """
    import vxp_client

    with vxp_client.PlatformClient(repository(repo), ref, settings=settings()) as client:
        found = client.resources(type=type, under=under)
        commit = client.commit
    if format is OutputFormat.json:
        print_json([resource_json(r) for r in found])
        return
    console = Console()
    table = Table("type", "version", "files", "bytes")
    # ids are what users copy into `show` and recipes: fold them, never cut them
    table.add_column("id", overflow="fold", ratio=1)
    for resource in found:
        table.add_row(
            resource.type.value,
            str(resource.version or "-"),
            str(len(resource.paths)) if resource.paths else "-",
            _size(resource.size_bytes),
            escape(resource.id),
        )
    if found:
        console.print(table)
    console.print(
        f"{len(found)} resource{'' if len(found) == 1 else 's'} at {ref} ({commit[:12]})",
        highlight=False,
    )


@app.command()
def show(
    id: Annotated[str, typer.Argument(help="the resource id, e.g. trial/basel/subject/P-7")],
    ref: RefOption = DEFAULT_BRANCH,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Show one resource at REF: type, version, attributes, paths, checksum, children.

    Example: vxp resources show trial/basel/subject/P-7 --repo imaging --ref v1
    """
    import vxp_client

    with vxp_client.PlatformClient(repository(repo), ref, settings=settings()) as client:
        resource = client.get_resource(id)
        children = client.children(id)
        commit = client.commit
    if format is OutputFormat.json:
        print_json(
            {**resource_json(resource), "children": [c.id for c in children], "commit": commit}
        )
        return
    console = Console()
    console.print(f"{escape(resource.id)} at {ref} ({commit[:12]})", highlight=False)
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("type", resource.type.value)
    table.add_row("version", str(resource.version or "-"))
    table.add_row("parent", escape(resource.parent_id or "-"))
    table.add_row("source", resource.source)
    for key, value in sorted(resource.attributes.items()):
        table.add_row(f"  {escape(key)}", escape(str(value)))
    table.add_row("checksum", resource.checksum or "-")
    table.add_row("bytes", _size(resource.size_bytes))
    shown = 10
    for i, path in enumerate(resource.paths[:shown]):
        table.add_row("paths" if i == 0 else "", escape(path))
    if len(resource.paths) > shown:
        table.add_row("", f"… {len(resource.paths) - shown} more (--format json lists all)")
    table.add_row("children", str(len(children)))
    console.print(table)
