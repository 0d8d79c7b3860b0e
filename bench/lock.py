"""k. ``vxp datasets lock`` of a recipe selecting 100,000 resources vs the same DuckDB query.

Issue 11's goal: locking a recipe that selects N resources costs at most 2x the equivalent DuckDB
query over ``vxp.resources`` — the current rows with the columns a lockfile is made of — in the
same run. Both sides start cold: the query opens a new ``PlatformClient`` (resolve the ref, load
the extensions, ATTACH the catalog) and reads the rows as a ``pyarrow.Table``; the lock
(:func:`vxp.datasets.lock.lock`) resolves the ref, starts its child process, runs the recipe,
resolves every id at the commit, reads the series' manifests, writes the split files and
``dataset.lock.json``. The sides alternate (A, B, B, A, …).

The resources are made, not ingested: ``vxp.resources`` is written with pyiceberg on branch
``bench`` of repository ``bench-lock`` — per subject 10 resources (the subject, three visits, a
DICOM study and series of two instances, a volume, a document, two files) — with a
``_manifest.json`` of the series' instances, so the lock maps series to files the way it does
for ingested data. Two recipes are locked: one that selects in SQL (``client.query``), and one
that reads ``Resource`` objects (``client.resources()``), the costlier way a recipe may take.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.core import SEED, Options, Recorder, timed
from bench.stack import Running, running
from vxp.core.names import DEFAULT_BRANCH
from vxp.datasets.lock import lock
from vxp.domain.refs import create_branch
from vxp.ingestion.resources import RESOURCES_SCHEMA, canonical_json, member_checksum

NAME = "lock"
TITLE = "k. vxp datasets lock of 100,000 resources vs the equivalent DuckDB query"

REPOSITORY = "bench-lock"
BRANCH = "bench"
SOURCE = "bench"
RUN = "20240611t000000z-bench"
PER_SUBJECT = 10
GOAL = 2.0
BASELINE = "DuckDB query, new client"
PROCESS = "DuckDB query, new process"
QUERY = (
    "SELECT id, type, version, attributes, paths, checksum, size_bytes "
    "FROM vxp.resources WHERE is_current ORDER BY id"
)

SQL_RECIPE = '''
import vxp_client

@vxp_client.dataset_compilation_entrypoint()
def everything(client):
    """Every current resource, selected in SQL, split by subject."""
    rows = client.query("SELECT id FROM vxp.resources WHERE is_current").to_pylist()
    return vxp_client.split_by_subject(rows, {"train": 0.8, "test": 0.2}, salt="bench")
'''
OBJECTS_RECIPE = '''
import vxp_client

@vxp_client.dataset_compilation_entrypoint()
def everything(client):
    """Every current resource as Resource objects, split by subject."""
    resources = client.resources()
    return vxp_client.split_by_subject(resources, {"train": 0.8, "test": 0.2}, salt="bench")
'''


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _resources(subjects: int) -> tuple[pa.Table, bytes]:
    """``subjects`` x 10 current rows of ``vxp.resources`` and the manifest of their files."""
    rng = random.Random(SEED)
    at = dt.datetime(2024, 6, 11, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    trial = f"trial/{SOURCE}"

    def add(
        rid: str,
        kind: str,
        parent: str | None,
        attributes: dict[str, Any],
        paths: list[str] | None = None,
        checksum: str | None = None,
        size: int | None = None,
    ) -> None:
        rows.append(
            {
                "id": rid,
                "type": kind,
                "parent_id": parent,
                "source": SOURCE,
                "attributes": canonical_json(attributes),
                "paths": paths or [],
                "checksum": checksum,
                "size_bytes": size,
                "valid_from": at,
                "valid_to": None,
                "is_current": True,
                "is_deleted": False,
                "version": 1,
                "run_id": RUN,
            }
        )

    def landed(relative: str) -> tuple[str, str, int]:
        sha, size = _hex(rng), rng.randint(1_000, 500_000)
        manifest.append({"path": relative, "sha256": sha, "size": size})
        return f"raw/{SOURCE}/{RUN}/{relative}", sha, size

    add(trial, "Trial", None, {"source": SOURCE})
    for n in range(subjects):
        label = f"S-{n:06d}"
        subject = f"{trial}/subject/{label}"
        add(subject, "Subject", trial, {"subject": label, "dm.age": rng.randint(18, 80)})
        for visit in (1, 2, 3):
            add(f"{subject}/visit/{visit}", "Visit", subject, {"visit": visit})
        study = f"{subject}/dicom-study/1.2.{n}"
        series = f"{study}/dicom-series/1.2.{n}.1"
        members = [landed(f"{label}/mr/{i}.dcm") for i in (1, 2)]
        series_sum = member_checksum(m[1] for m in members)
        size = sum(m[2] for m in members)
        paths = [m[0] for m in members]
        study_sum = member_checksum([series_sum])
        add(study, "DICOMStudy", subject, {"modalities": ["MR"]}, paths, study_sum, size)
        add(series, "DICOMSeries", study, {"number_of_instances": 2}, paths, series_sum, size)
        for kind, segment, name in (
            ("Volume", "volume", "anat.nii.gz"),
            ("Document", "document", "consent.pdf"),
            ("File", "file", "notes.txt"),
            ("File", "file", "eeg.edf"),
        ):
            relative = f"{label}/{name}"
            path, sha, size = landed(relative)
            rid = f"{subject}/{segment}/{label}%2F{name}"
            add(rid, kind, subject, {"relative_path": relative}, [path], sha, size)
    body = {"source": SOURCE, "run": RUN, "kind": "files", "files": manifest}
    return pa.Table.from_pylist(rows, schema=RESOURCES_SCHEMA), json.dumps(body).encode()


def _prepare(stack: Running, subjects: int) -> None:
    stack.create_repository(REPOSITORY)
    create_branch(stack.lakefs, REPOSITORY, BRANCH, DEFAULT_BRANCH)
    table, manifest = _resources(subjects)
    stack.lakefs.upload_object(REPOSITORY, BRANCH, f"raw/{SOURCE}/{RUN}/_manifest.json", manifest)
    stack.lakefs.commit(REPOSITORY, BRANCH, "bench: the manifest of the resources' files", {})
    catalog = stack.catalog(f"{REPOSITORY}.{BRANCH}")
    catalog.create_namespace("vxp")
    resources = catalog.create_table("vxp.resources", schema=RESOURCES_SCHEMA)
    resources.append(table)


def _query(stack: Running) -> int:
    with stack.client(REPOSITORY, BRANCH) as client:
        return int(client.query(QUERY).num_rows)


def _query_process(stack: Running) -> None:
    """The same query in a new Python process: imports, client, connection, query (what a
    one-off command pays, as `vxp datasets lock` does)."""
    code = (
        "import sys, json, vxp_client\n"
        "from vxp.core.settings import Settings\n"
        "settings = Settings.from_values(json.loads(sys.stdin.read()))\n"
        f"with vxp_client.PlatformClient({REPOSITORY!r}, {BRANCH!r}, settings=settings) as c:\n"
        f"    assert c.query({QUERY!r}).num_rows > 0\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(stack.settings.to_values()).encode(),
        check=True,
    )


def _lock(stack: Running, recipe: Path, output: Path) -> int:
    result = lock(recipe, settings=stack.settings, repository=REPOSITORY, ref=BRANCH, output=output)
    return sum(s.count for s in result.splits)


def run(options: Options, recorder: Recorder) -> None:
    total = options.scale(10_000, 100_000)
    subjects = total // PER_SUBJECT
    rounds = options.scale(2, 3)
    folder = options.workdir / "lock"
    folder.mkdir()
    recipes = {
        "lock, recipe selects in SQL": folder / "sql_recipe.py",
        "lock, recipe reads Resource objects": folder / "objects_recipe.py",
    }
    recipes["lock, recipe selects in SQL"].write_text(textwrap.dedent(SQL_RECIPE))
    recipes["lock, recipe reads Resource objects"].write_text(textwrap.dedent(OBJECTS_RECIPE))
    samples: dict[str, list[float]] = {BASELINE: [], PROCESS: [], **{c: [] for c in recipes}}
    with running(options, "embedded") as stack:
        options.console.print(f"writing {total:,} resources to vxp.resources")
        _prepare(stack, subjects)
        # one of each first, not counted: the checks of what both sides return
        rows = _query(stack)
        assert rows == total + 1, rows  # the trial too
        for case, recipe in recipes.items():
            locked = _lock(stack, recipe, folder / "check")
            assert locked == total + 1, (case, locked)
        actions: dict[str, Callable[[], object]] = {
            BASELINE: partial(_query, stack),
            PROCESS: partial(_query_process, stack),
            **{case: partial(_lock, stack, path, folder / "out") for case, path in recipes.items()},
        }
        for i in range(rounds):
            order = list(actions) if i % 2 == 0 else list(reversed(actions))
            for case in order:
                samples[case].append(timed(actions[case]))
    recorder.add(
        BASELINE,
        samples[BASELINE],
        "s",
        note=f"{total + 1:,} current rows, the lockfile's columns, as Arrow; set-up included",
    )
    recorder.add(
        PROCESS,
        samples[PROCESS],
        "s",
        baseline=BASELINE,
        note="python -c: imports, client, connection, query",
    )
    for case in recipes:
        row = recorder.add(case, samples[case], "s", baseline=BASELINE, note=f"goal <= {GOAL}x")
        process = samples[PROCESS]
        versus = sorted(samples[case])[len(samples[case]) // 2] / sorted(process)[len(process) // 2]
        if row.ratio is not None:
            verdict = "meets" if row.ratio <= GOAL else "misses"
            recorder.note(
                f"{case}: {row.ratio:.2f}x the query in this process ({verdict} the goal, "
                f"<= {GOAL}x), {versus:.2f}x the query in a new process"
            )
    recorder.note(
        "each lock: resolve the ref, a child process (imports, the recipe, one DuckDB connection "
        "for recipe and resolution), one manifest read, canonical JSON lines, two split files, "
        "dataset.lock.json and lineage.jsonl; the query: a new client and one SELECT"
    )
