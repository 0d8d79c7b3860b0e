"""CLI refusals that need no stack: ``vxp branch delete`` refuses the catalog's temporary
branches unless forced (before any lakeFS call), and errors print as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vxp.catalog.leftovers import new_temp_branch, release
from vxp.cli.app import _fail, app
from vxp.core.errors import InvalidInput, Unavailable
from vxp.core.settings import Key


def _delete(tmp_path: Path, *args: str) -> BaseException | None:
    # no platform: a deletion that gets past the guard fails on the missing lakeFS settings
    env = dict.fromkeys(Key, "") | {"VXP_HOME": str(tmp_path), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["branch", "delete", *args, "--repo", "clinical"], env=env)
    return result.exception


def test_a_temporary_branch_of_the_catalog_is_refused_unless_forced(tmp_path: Path) -> None:
    name = new_temp_branch()
    release(name)
    refused = _delete(tmp_path, name)
    assert isinstance(refused, InvalidInput)
    assert "one of the catalog's temporary branches" in refused.message
    assert "nothing was deleted" in refused.message
    assert "vxp gc --repo clinical --dry-run" in (refused.hint or "")
    forced = _delete(tmp_path, name, "--force")
    assert isinstance(forced, Unavailable)


def test_the_catalogs_branch_names_are_not_for_users(tmp_path: Path) -> None:
    env = dict.fromkeys(Key, "") | {"VXP_HOME": str(tmp_path), "COLUMNS": "200"}
    args = ["branch", "create", "vxp-catalog-mine", "--repo", "clinical"]
    refused = CliRunner().invoke(app, args, env=env).exception
    assert isinstance(refused, InvalidInput)
    assert "are the catalog's temporary branches" in refused.message
    assert "nothing was created" in refused.message


def test_a_work_branch_is_not_refused_by_the_guard(tmp_path: Path) -> None:
    failed = _delete(tmp_path, "exp-normalise-dates")
    assert isinstance(failed, Unavailable)


def test_an_error_prints_brackets_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A message quoting `[integration]` or `[Errno 2]` is text, not Rich markup (a layer-policy
    hint lost its branch name)."""
    error = InvalidInput("read [Errno 2] here", hint="allow it with table_writes_on: [integration]")
    with pytest.raises(SystemExit) as exited:
        _fail(error)
    assert exited.value.code == error.exit_code
    printed = capsys.readouterr().err
    assert "read [Errno 2] here" in printed
    assert "table_writes_on: [integration]" in printed
