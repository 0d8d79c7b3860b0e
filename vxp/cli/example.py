"""``vxp example study DIR``: example data for tutorials, demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vxp.cli.options import print_done
from vxp.ingestion.example_study import write_example_study

app = typer.Typer(
    help="Write example deliveries to try vxp with.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def study(
    directory: Annotated[Path, typer.Argument(help="where to write delivery-1/, delivery-2/, …")],
    subjects: Annotated[int, typer.Option(min=1, help="subjects of the first delivery")] = 20,
    deliveries: Annotated[int, typer.Option(min=1, help="how many deliveries")] = 2,
    seed: Annotated[int, typer.Option(help="the same seed writes the same bytes")] = 0,
    trial: Annotated[str, typer.Option(help="trial name, the prefix of subject ids")] = "basel",
) -> None:
    """Write a deterministic multi-site clinical study as growing deliveries: each later one
    has more subjects and visits, corrected values, a new column, a new dataset. Every
    delivery is a folder of CSV files and a contents.csv data dictionary.

    Example: vxp example study ./basel --subjects 50 --deliveries 3 --seed 1
    """
    folders = write_example_study(
        directory, subjects=subjects, deliveries=deliveries, seed=seed, trial=trial
    )
    print_done(
        f"wrote {len(folders)} deliveries to {directory}: "
        + ", ".join(folder.name for folder in folders)
        + f"\n  next: vxp ingest study {folders[0]} --repo REPO --source {trial}"
    )
