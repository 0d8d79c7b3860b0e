"""``vxp example study DIR``: example data for tutorials, demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vxp.cli.options import RepoOption, print_done
from vxp.core.errors import AlreadyExists
from vxp.ingestion.example_imaging import write_example_imaging
from vxp.ingestion.example_study import write_example_study

app = typer.Typer(
    help="Write example deliveries to try vxp with.",
    epilog="Example: vxp example study ./basel && vxp repo create basel && "
    "vxp ingest study ./basel/delivery-1 --repo basel --source basel",
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
    imaging: Annotated[
        bool,
        typer.Option(
            "--imaging",
            help="also write MRI (a T1w and a T2w DICOM series per subject of the first "
            "delivery) to DIR/imaging/",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="write into DIR even when it is not empty (files replaced)"),
    ] = False,
    repo: RepoOption = None,
) -> None:
    """Write a deterministic multi-site clinical study as growing deliveries: each later one
    has more subjects and visits, corrected values, a new column, a new dataset. Every
    delivery is a folder of CSV files and a contents.csv data dictionary. With `--imaging`,
    DIR/imaging/ holds a T1w and a T2w MR series (DICOM) for each subject of the first
    delivery, linked to it by PatientID. DIR must be new or empty unless --force is given.
    --repo (or VXP_REPO) only names the repository in the printed next steps.

    Examples:

        vxp example study ./basel

        vxp example study ./basel --subjects 50 --deliveries 3 --seed 1 --imaging

        vxp example study ./basel --force --repo clinical   # write again over ./basel
    """
    if not force and directory.is_dir() and any(directory.iterdir()):
        raise AlreadyExists(
            f"{directory} is not empty; nothing was written",
            hint="choose a new folder, or pass --force to write over its files",
        )
    # the next steps name a real repository: --repo/VXP_REPO, else the one they create
    target = repo or trial.replace("_", "-")
    create = "" if repo else f"vxp repo create {target}\n  then: "
    folders = write_example_study(
        directory, subjects=subjects, deliveries=deliveries, seed=seed, trial=trial
    )
    message = (
        f"wrote {len(folders)} deliveries to {directory}: "
        + ", ".join(folder.name for folder in folders)
        + f"\n  next: {create}vxp ingest study {folders[0]} --repo {target} --source {trial}"
    )
    if imaging:
        series = write_example_imaging(
            directory / "imaging", subjects=subjects, seed=seed, trial=trial
        )
        message += (
            f"\n  wrote {len(series)} DICOM series to {directory / 'imaging'}"
            f"\n  then: vxp ingest files {directory / 'imaging'} --repo {target} --source {trial}"
        )
    print_done(message)
