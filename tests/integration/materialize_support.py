"""A repository with the example study and its imaging, and lockfiles of it, for the
materialize and reproducibility tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support import Stack
from vxp.core.settings import Key
from vxp.datasets.lock import LockResult, lock
from vxp.datasets.registry import find_registry, load_registry
from vxp.domain.repositories import create_repository
from vxp.ingestion.example_imaging import write_example_imaging
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_files import ingest_files
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import Outcome
from vxp.ingestion.study.plan import validate_study

SOURCE = "basel"
#: the registered recipe of the example data with imaging and clinical data
RECIPE = "basel-t2-clinical"


@dataclass(frozen=True)
class Study:
    """The example study (``subjects`` subjects, one delivery) and its T1w/T2w MRI, ingested
    into ``repository``; ``folder`` holds what was delivered."""

    repository: str
    folder: Path
    subjects: int

    @property
    def delivery(self) -> Path:
        return self.folder / "delivery-1"

    @property
    def imaging(self) -> Path:
        return self.folder / "imaging"


def ingest_example(stack: Stack, repository: str, folder: Path, subjects: int = 5) -> Study:
    """Create ``repository`` and ingest the example study and imaging into it."""
    session = stack.session()
    create_repository(session, repository, stack.settings.storage_namespace_prefix)
    write_example_study(folder, subjects=subjects, deliveries=1, seed=11)
    write_example_imaging(folder / "imaging", subjects=subjects, seed=11)
    study = Study(repository, folder, subjects)
    report = ingest_study(
        session, stack.settings, repository, SOURCE, validate_study(study.delivery)
    )
    assert report.outcome is Outcome.LANDED, report.to_json()
    report = ingest_files(session, stack.settings, repository, SOURCE, study.imaging)
    assert report.outcome is Outcome.LANDED, report.to_json()
    return study


def lock_registered(stack: Stack, repository: str, output: Path, name: str = RECIPE) -> LockResult:
    """Lock the registered recipe ``name`` against ``repository``'s integration head."""
    registry_file = find_registry(Path(__file__).resolve().parents[2])
    entry = load_registry(registry_file).get(name)
    return lock(
        entry.path,
        settings=stack.settings,
        repository=repository,
        ref="integration",
        output=output,
        name=entry.name,
        version=entry.version,
        recipe_label=entry.script_location,
    )


def tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the run records in ``.vxp/``."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".vxp" not in path.relative_to(root).parts
    }


def run_vxp(stack: Stack, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``vxp ARGS`` as a user runs it after ``eval "$(vxp env)"``."""
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env.update({**stack.env, "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "vxp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def lines(path: Path) -> list[dict[str, object]]:
    """The JSON objects of a ``.jsonl`` file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
