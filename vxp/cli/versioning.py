"""``vxp commit | merge | log | diff``: recording, combining and comparing versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import (
    FormatOption,
    OutputFormat,
    RepoOption,
    print_done,
    print_json,
    print_listing,
    repository,
)
from vxp.core.errors import NotFound, VxpError
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.refs import CommitInfo
from vxp.domain.refs import commit as commit_branch
from vxp.lakefs import LakeFSPreconditionFailed

if TYPE_CHECKING:
    from vxp.domain.tables import RefDiff, TableDiff, TableState
    from vxp.lakefs import Session

# heavy libraries (pyiceberg, DuckDB, pyarrow) are imported when a command runs, so the
# other `vxp` commands start fast

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


@app.command()
def commit(
    message: Annotated[str, typer.Option("--message", "-m", help="what changed and why")],
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch", "-b", envvar="VXP_BRANCH", show_envvar=True, help="branch to commit"
        ),
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="commit metadata key=value (repeatable)"),
    ] = None,
    repo: RepoOption = None,
) -> None:
    """Commit the staged changes (uploaded or deleted files) of a branch.

    Table writes through the catalog are committed as they happen and need no `vxp commit`.
    Nothing staged is an error (exit 1); a commit a hook refuses says why (exit 1).

    Example: vxp commit -b upload-1 -m "site 3 export" --meta source=site-export --repo clinical
    """
    from vxp.domain.refs import parse_metadata

    if not branch:
        raise VxpError("no branch given", hint="pass --branch NAME or export VXP_BRANCH=NAME")
    metadata = parse_metadata(meta or [])
    lakefs, name = session(), repository(repo)
    try:
        created = commit_branch(lakefs, name, branch, message, metadata)
    except LakeFSPreconditionFailed as exc:
        from vxp.checks.refusals import explain_refusal

        # lakeFS says only "pre-commit hook aborted": the reason is in the hook run's output
        raise explain_refusal(lakefs, name, branch, exc) from exc
    print_done(f"committed {branch}: {created.id}")


@app.command()
def merge(
    source: Annotated[str, typer.Argument(help="ref to merge from (branch, tag or commit)")],
    destination: Annotated[str, typer.Argument(help="branch to merge into")],
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="merge commit message")
    ] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help="settle conflicting tables: ours (keep DESTINATION's version) or theirs (take "
            "SOURCE's), for all, or per table as TABLE=ours|theirs (repeatable)",
        ),
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option(
            "--meta",
            help="merge commit metadata key=value (repeatable), e.g. "
            "vxp.allow-breaking='reason' to let a schema break into integration",
        ),
    ] = None,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Merge SOURCE into branch DESTINATION; changes flow source → integration → app-*.

    When both sides changed the same table, vxp merges the two Iceberg histories if they
    commute (both appended rows or deleted different files; different columns added). Anything
    else is a conflict: each table is explained (which side did what), nothing is merged and the
    command exits 3 until you choose with --strategy (naming a table both sides did not change
    is an error, exit 1). Merges into a layer branch run that
    layer's checks on the merged tree first (exit 1 with every problem; nothing merged).

    Example: vxp merge exp-qc integration --repo clinical --strategy trial.visits=theirs
    """
    from vxp.checks.merge import checked_merge
    from vxp.domain.merging import MergeConflict, parse_strategies
    from vxp.domain.refs import parse_metadata

    try:
        # the one merge path, with the destination layer's checks (issue 12)
        result = checked_merge(
            session(),
            repository(repo),
            source,
            destination,
            message=message,
            metadata=parse_metadata(meta or []),
            strategies=parse_strategies(strategy or []),
            settings=settings(),
        )
    except MergeConflict as conflict:
        if format is OutputFormat.json:
            # a script reads the conflict from stdout; the error still goes to stderr, exit 3
            print_json(conflict.to_json())
        raise
    if format is OutputFormat.json:
        print_json(result.to_json())
        return
    for table in result.tables:
        Console().print(f"  {escape(table.table)}: {table.how} ({escape(table.detail)})")
    print_done(f"merged {source} into {destination}: {result.commit_id}")


def _catalog_cell(commit: CommitInfo) -> str:
    """What a commit did to tables, e.g. ``commit-table: trial.a delete 81…, append 92…`` or
    ``merge: trial.a merged (…)``."""
    from vxp.domain.history import merged_tables

    merged = merged_tables(commit)
    if merged:
        return "merge: " + ", ".join(f"{m.get('table')} {m.get('how')}" for m in merged)
    if commit.catalog_action is None:
        return ""
    namespace = commit.metadata.get("vxp.catalog.namespace")
    parts = [f"namespace {namespace}"] if namespace else []
    for change in commit.tables:
        details = [change.table]
        if change.what is not None:
            details.append(change.what.describe())
        else:
            if change.operation:
                details.append(change.operation)
            if change.snapshot_id is not None:
                details.append(f"snapshot {change.snapshot_id}")
        parts.append(" ".join(details))
    return f"{commit.catalog_action}: " + ", ".join(parts)


@app.command()
def log(
    ref: Annotated[str, typer.Argument(help="branch, tag or commit")] = DEFAULT_BRANCH,
    number: Annotated[int, typer.Option("-n", "--number", min=1, help="how many commits")] = 20,
    all_commits: Annotated[
        bool,
        typer.Option(
            "--all",
            help="every commit reachable from REF, also those of merged branches and vxp's "
            "temporary merge branches (default: REF's own line, each merge as one commit)",
        ),
    ] = False,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Show the newest commits of REF; for table commits, every snapshot they added with its
    Iceberg operation (append, overwrite, delete, replace) and what else changed (schema,
    partition spec, sort order, properties); for vxp merges, how each table was merged.
    Follows the first parent of merges (as git log --first-parent) unless --all.

    Example: vxp log integration -n 5 --repo clinical
    """
    from vxp.domain.history import log as read_log

    print_listing(
        read_log(
            session(), settings(), repository(repo), ref, number, first_parent=not all_commits
        ),
        format,
        ("commit", "author", "date (UTC)", "message", "tables"),
        lambda c: (
            c.id[:12],
            c.committer,
            c.date.strftime("%Y-%m-%d %H:%M:%S"),
            escape(c.message),
            escape(_catalog_cell(c)),
        ),
    )


_CHANGE_STYLE = {"added": "green", "changed": "yellow", "dropped": "red"}


def _side(state: TableState | None, attr: str) -> str:
    value = getattr(state, attr) if state is not None else None
    return "-" if value is None else str(value)


def _rows_cell(t: TableDiff) -> str:
    if t.rows is None:
        return "-"
    parts = [f"+{t.rows.added}", f"-{t.rows.removed}"]
    if t.rows.changed is not None:
        parts.append(f"~{t.rows.changed}")
    return " ".join(parts)


def _print_diff(result: RefDiff) -> None:
    from vxp.domain.table_changes import row_text

    console = Console()
    console.print(
        f"{result.left} ({result.left_commit[:12]}) → {result.right} ({result.right_commit[:12]})",
        highlight=False,
    )
    if result.tables:
        table = Table("change", "table", "snapshot", "rows", "+added -removed ~changed", "what")
        for t in result.tables:
            if t.change == "changed":
                snapshot = f"{_side(t.before, 'snapshot_id')} → {_side(t.after, 'snapshot_id')}"
                rows = f"{_side(t.before, 'rows')} → {_side(t.after, 'rows')}"
            else:
                state = t.before if t.change == "dropped" else t.after
                snapshot, rows = _side(state, "snapshot_id"), _side(state, "rows")
            color = _CHANGE_STYLE.get(t.change, "dim")
            table.add_row(
                f"[{color}]{t.change}[/{color}]",
                escape(t.table),
                snapshot,
                rows,
                _rows_cell(t),
                escape(t.metadata.describe()) if t.metadata and t.change != "dropped" else "",
            )
        console.print(table)
    for t in result.tables:
        changes = t.rows
        if changes is None or not (
            changes.sample_added or changes.sample_removed or changes.sample_changed
        ):
            continue
        console.print(
            f"[bold]{escape(t.table)}[/bold]"
            + (f" (key: {escape(', '.join(changes.key))})" if changes.key else "")
        )
        for label, sample in (("+", changes.sample_added), ("-", changes.sample_removed)):
            for row in sample:
                console.print(f"  {label} {escape(row_text(row))}", highlight=False)
        for pair in changes.sample_changed:
            console.print(
                f"  ~ {escape(row_text(pair['before']))}\n    → {escape(row_text(pair['after']))}",
                highlight=False,
            )
    tables = ", ".join(
        f"{sum(t.change == kind for t in result.tables)} {kind}" for kind in _CHANGE_STYLE
    )
    if result.problems:
        # named with their reasons after this summary
        tables += f", {len(result.problems)} that could not be compared"
    objects = result.objects
    console.print(
        f"tables: {tables}; namespaces: {len(result.namespaces_added)} added, "
        f"{len(result.namespaces_dropped)} dropped; other objects: {sum(objects.values())} "
        f"({objects['added']} added, {objects['removed']} removed, "
        f"{objects['changed']} modified)",
        highlight=False,
    )


def _require_table(lakefs: Session, repo: str, table: str, result: RefDiff) -> None:
    """Refuse ``--table`` naming a table that exists at neither ref (a typo would otherwise
    read as "no change").

    Raises:
        NotFound: naming the table and every table at either ref.
    """
    from vxp.core.layout import TABLES, parse_table_pointer, table_pointer
    from vxp.domain.tables import parse_table_name

    wanted = table_pointer(*parse_table_name(table))
    present: set[str] = set()
    for commit in (result.left_commit, result.right_commit):
        for entry in lakefs.list_objects(repo, commit, TABLES + "/", delimiter=""):
            if entry.path == wanted:
                return
            parsed = parse_table_pointer(entry.path)
            if parsed is not None:
                present.add(".".join((*parsed[0], parsed[1])))
    raise NotFound(
        f"no table {table} at {result.left} or {result.right}; tables there: "
        + (", ".join(sorted(present)) or "none"),
        hint="vxp tables list --ref REF shows a ref's tables",
    )


@app.command()
def diff(
    left: Annotated[str, typer.Argument(help="the older ref (branch, tag or commit)")],
    right: Annotated[str, typer.Argument(help="the newer ref")],
    table: Annotated[
        str | None, typer.Option("--table", "-t", help="only this table (NAMESPACE.TABLE)")
    ] = None,
    rows: Annotated[
        int,
        typer.Option(
            "--rows", min=0, help="show up to N added, removed and changed rows per table"
        ),
    ] = 0,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Compare two refs table by table: tables added, dropped and changed, with snapshot IDs,
    row counts (deletes applied), column and metadata changes, and rows added, removed and
    changed (by the table's identifier columns, when it has them); plus a count of other
    changed objects. A --table that exists at neither ref is an error (exit 1). A changed table
    that cannot be compared (a malformed pointer, an unreadable metadata file) is named after
    the others with its reason, and the exit status is 1 (JSON: "problems").

    Example: vxp diff v1 integration --table trial.visits --rows 5
    """
    from vxp.domain.tables import diff as diff_refs
    from vxp.domain.tables import problems_error

    lakefs, name = session(), repository(repo)
    result = diff_refs(lakefs, settings(), name, left, right, table=table, rows=rows)
    if table is not None and not result.tables and not result.problems:
        _require_table(lakefs, name, table, result)
    if format is OutputFormat.json:
        print_json(result.to_json())
    else:
        _print_diff(result)
    if result.problems:
        raise problems_error(result.problems, f"could not be compared ({left} → {right})")
