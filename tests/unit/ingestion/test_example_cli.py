"""``vxp example study`` as users run it: it never writes over a folder that holds files unless
told to, and its next steps name a real repository (user-found defects of issue 9)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vxp.cli.app import app
from vxp.core.errors import AlreadyExists


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["example", "study", *args], env={"COLUMNS": "200", "VXP_REPO": "", **(env or {})}
    )
    return result.exit_code, result.output


def test_a_new_folder_is_written_and_the_next_steps_name_a_repository(tmp_path: Path) -> None:
    code, output = _run(str(tmp_path / "basel"), "--subjects", "2")
    assert code == 0, output
    assert (tmp_path / "basel" / "delivery-1" / "dm.csv").is_file()
    assert "--repo REPO" not in output
    assert "vxp repo create basel" in output
    assert "--repo basel --source basel" in output


def test_the_repository_of_vxp_repo_is_named(tmp_path: Path) -> None:
    code, output = _run(str(tmp_path / "s"), "--subjects", "2", env={"VXP_REPO": "clinical"})
    assert code == 0, output
    assert "--repo clinical --source basel" in output
    assert "repo create" not in output


def test_a_folder_with_files_is_refused_unless_forced(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me\n")

    result = CliRunner().invoke(app, ["example", "study", str(folder), "--subjects", "2"])

    # the CLI's entry point prints the error and its hint, and exits with the error's code
    assert isinstance(result.exception, AlreadyExists)
    assert "is not empty; nothing was written" in result.exception.message
    assert "--force" in (result.exception.hint or "")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]

    code, output = _run(str(folder), "--subjects", "2", "--force")
    assert code == 0, output
    assert (folder / "delivery-1" / "dm.csv").is_file()
    assert (folder / "notes.txt").read_text() == "keep me\n"


def test_an_empty_folder_is_fine(tmp_path: Path) -> None:
    code, output = _run(str(tmp_path), "--subjects", "2")
    assert code == 0, output


def test_help_pages_have_examples() -> None:
    for args in (["example"], ["example", "study"]):
        result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "Example" in result.output and "vxp example study ./basel" in result.output
    for command in ("study", "files", "list", "merge", "discard"):
        result = CliRunner().invoke(app, ["ingest", command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "Example" in result.output and f"vxp ingest {command}" in result.output, command
