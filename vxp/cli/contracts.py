"""``vxp contracts check``: run the data contracts of a ref, as the hooks do."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from vxp.cli.context import session, settings
from vxp.cli.options import (
    FormatOption,
    OutputFormat,
    RepoOption,
    print_done,
    print_json,
    repository,
)
from vxp.core.names import DEFAULT_BRANCH

app = typer.Typer(
    help="Data contracts (`_vxp/contracts/<namespace>.<table>.yaml`).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def check(
    ref: Annotated[str, typer.Option(help="branch, tag or commit to check")] = DEFAULT_BRANCH,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Run every contract at REF and list every rule a table breaks, with offending rows.

    The same SQL the hooks run on a merge (docs/reference/contracts.md). Exit code 1 when a
    contract is broken or malformed.

    Example: vxp contracts check --repo clinical --ref exp-a
    """
    from vxp.checks import contracts
    from vxp.checks.base import CheckEnv, Target
    from vxp.core.home import Home
    from vxp.domain.refs import resolve

    name = repository(repo)
    commit = resolve(session(), name, ref)
    env = CheckEnv(session(), settings(), Home.from_env().cache)
    loaded, _ = contracts.load_contracts(env, name, commit)
    problems = contracts.check(env, Target(name, ref, commit, None), everything=True)
    if format is OutputFormat.json:
        print_json(
            {
                "ref": ref,
                "commit_id": commit,
                "contracts": [c.path for c in loaded],
                "problems": [p.to_json() for p in problems],
            }
        )
    elif problems:
        Console().print("\n".join(p.describe() for p in problems), highlight=False, markup=False)
    else:
        print_done(f"{len(loaded)} contract(s) hold at {ref} ({commit[:12]})")
    if problems:
        raise typer.Exit(1)
