"""docs/reference/cli.md is generated from the typer app; this keeps it in sync with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"
REGENERATE = [sys.executable, "-m", "typer", "vxp.cli.app", "utils", "docs", "--name", "vxp"]


def test_cli_reference_is_up_to_date(tmp_path: Path) -> None:
    generated = tmp_path / "cli.md"
    subprocess.run(
        [*REGENERATE, "--output", str(generated)], check=True, capture_output=True, timeout=300
    )
    assert generated.read_text() == DOCS.read_text(), (
        "docs/reference/cli.md is stale; regenerate it with "
        "`.venv/bin/typer vxp.cli.app utils docs --name vxp --output docs/reference/cli.md`"
    )
