"""docs/tutorials/imaging.md works as written: its shell and Python blocks, run in order against
the embedded stack (in a repository of the test's own), print what the page shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Stack
from vxp.core.settings import Key

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "tutorials" / "imaging.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(PAGE.read_text())]


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


def test_the_imaging_tutorial(embedded: Stack, repo_name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env.update(
        {
            "VXP_HOME": str(embedded.home.root),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "COLUMNS": "100",
            # the page's `export VXP_REPO=trial` for every block, with the test's repository
            "VXP_REPO": repo_name,
        }
    )
    blocks = _blocks()
    outputs: list[tuple[str, str, str]] = []  # (language, block, what it printed)
    for language, block in blocks:
        if language == "bash":
            script = "\n".join(
                line
                for line in block.replace("repo create trial", f"repo create {repo_name}")
                .replace("VXP_REPO=trial", f"VXP_REPO={repo_name}")
                .splitlines()
                if line.strip() != "vxp up"  # the stack is the test session's
            )
            printed = _run(["bash", "-euo", "pipefail", "-c", script], tmp_path, env)
            if "vxp ingest files" in block:
                # "Run the same command once more"
                again = _run(["bash", "-euo", "pipefail", "-c", script], tmp_path, env)
                assert "unchanged: this delivery of 'basel' is run" in again
            outputs.append((language, block, printed))
        elif language == "python":
            name = "make_imaging.py" if "PdfWriter" in block else "explore.py"
            (tmp_path / name).write_text(
                block.replace('PlatformClient("trial"', f'PlatformClient("{repo_name}"')
            )
            outputs.append((language, block, _run([sys.executable, name], tmp_path, env)))
        else:
            outputs.append((language, block, ""))

    texts = [block for language, block, _ in outputs if language == "text"]
    printed = {block: out for _, block, out in outputs}
    by_command = {
        command: next(out for _, block, out in outputs if command in block)
        for command in ("vxp ingest files", "vxp resources list --under", "vxp sql", "nib.")
    }
    assert len(list((tmp_path / "imaging").rglob("*.*"))) == 13
    assert re.search(r"vxp\.resources\s+│ 10 ", by_command["vxp ingest files"])
    assert "sent 13 files (293,530 bytes)" in by_command["vxp ingest files"]
    listing = next(t for t in texts if "4 resources at integration" in t)
    for line in listing.splitlines()[3:-2]:
        assert line in by_command["vxp resources list --under"], line
    table = next(t for t in texts if "DRUG 10MG │ MR" in t)
    for line in table.splitlines()[3:-1]:
        assert line in by_command["vxp sql"], line
    explored = next(t for t in texts if t.startswith("DRUG 10MG version 1"))
    # all but the commit id, which is this test's own
    assert by_command["nib."].splitlines()[:-1] == explored.splitlines()[:-1]
    assert printed  # every block ran
