"""``vxp materialize`` on the embedded stack: the example study with imaging, locked with a
registered recipe, materialized as BIDS (checked by the BIDS validator), clinical CSV and plain
files; the cache, resuming, refusals and plugins."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.materialize_support import (
    SOURCE,
    Study,
    ingest_example,
    lines,
    lock_registered,
    run_vxp,
    tree,
)
from tests.support import Stack
from vxp.core.errors import InvalidInput, NotFound, VxpError
from vxp.datasets.cache import ObjectCache
from vxp.datasets.lock import LockResult
from vxp.datasets.materialize import materialize
from vxp.datasets.materialize.bids import validate_bids

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def study(embedded: Stack, tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("example")
    return ingest_example(embedded, f"t-{uuid.uuid4().hex[:12]}", folder, subjects=5)


@pytest.fixture(scope="module")
def locked(embedded: Stack, study: Study, tmp_path_factory: pytest.TempPathFactory) -> LockResult:
    return lock_registered(embedded, study.repository, tmp_path_factory.mktemp("lock") / "lock")


@pytest.fixture
def cache(tmp_path: Path) -> ObjectCache:
    return ObjectCache(tmp_path / "cache")


def _splits(locked: LockResult) -> list[Path]:
    return [locked.directory / split.file for split in locked.splits]


def _subjects(lockfiles: list[Path]) -> set[str]:
    return {
        str(row["id"]).split("/")[3]
        for path in lockfiles
        for row in lines(path)
        if row["type"] == "Subject"
    }


def test_bids_clinical_and_files_from_a_registered_recipe(
    embedded: Stack, study: Study, locked: LockResult, cache: ObjectCache, tmp_path: Path
) -> None:
    lockfiles = _splits(locked)
    out = tmp_path / "out"
    report = materialize(
        lockfiles,
        ["bids", "clinical-to-csv", "files"],
        out,
        settings=embedded.settings,
        cache=cache,
        jobs=4,
    )
    subjects = _subjects(lockfiles)
    assert subjects, "the recipe selects the subjects with a T2 series"
    assert report.commits == [(study.repository, locked.commit)]
    assert report.downloaded["files"] > 0 and report.cached == 0

    # BIDS: valid, one participant per locked subject, their T2w images only (the recipe's)
    bids = out / "bids"
    checked = validate_bids(bids)
    assert checked.errors == [], checked.errors
    labels = {s.replace("-", "") for s in subjects}
    with (bids / "participants.tsv").open() as stream:
        participants = list(csv.DictReader(stream, delimiter="\t"))
    assert {p["participant_id"] for p in participants} == {f"sub-{label}" for label in labels}
    assert {p["subject_id"] for p in participants} == subjects
    assert all(p["age"].isdigit() for p in participants)
    sidecar = json.loads((bids / "participants.json").read_text())
    assert sidecar["age"]["Description"] == "Age at consent (years)"
    images = sorted(p.relative_to(bids).as_posix() for p in bids.rglob("*.nii.gz"))
    assert images == [f"sub-{label}/anat/sub-{label}_T2w.nii.gz" for label in sorted(labels)]
    meta = json.loads((bids / images[0]).with_name(Path(images[0]).name[:-7] + ".json").read_text())
    assert meta["SeriesDescription"].startswith("T2w") and meta["EchoTime"] == pytest.approx(0.408)
    description = json.loads((bids / "dataset_description.json").read_text())
    assert description["Name"] == "basel-t2-clinical"
    assert description["SourceDatasets"] == [
        {"URL": f"vxp://{study.repository}", "Version": locked.commit}
    ]

    # clinical CSV: the rows of the locked subjects only, and the dictionary beside them
    clinical = out / "clinical-to-csv" / SOURCE
    for table in ("dm", "vs", "ae"):
        with (clinical / f"{table}.csv").open() as stream:
            rows = list(csv.DictReader(stream))
        assert {r["usubjid"] for r in rows} <= subjects
        if table != "ae":  # not every subject has adverse events
            assert {r["usubjid"] for r in rows} == subjects
    assert not (clinical / "sites.csv").exists(), "sites holds no subjects"
    schema = json.loads((clinical / "dm.schema.json").read_text())
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["weight"]["title"] == "Weight at baseline (kg)"
    assert fields["weight"]["vxpType"].startswith("decimal")
    assert "subject_sk" in fields and schema["primaryKey"] == ["usubjid"]
    assert schema["vxp"]["commit"] == locked.commit
    delivered = (study.delivery / "contents.csv").read_bytes()
    assert (clinical / "dictionary" / "contents.csv").read_bytes() == delivered

    # files: the delivered bytes under their delivered paths, hardlinked from the cache
    files = out / "files"
    sums = (files / "SHA256SUMS").read_text().splitlines()
    assert sums
    for line in sums:
        digest, relative = line.split("  ", 1)
        placed = files / relative
        assert hashlib.sha256(placed.read_bytes()).hexdigest() == digest
        assert relative.startswith(f"{SOURCE}/")
        original = study.imaging / relative.removeprefix(f"{SOURCE}/")
        assert placed.read_bytes() == original.read_bytes()
        assert placed.stat().st_ino == cache.path(digest).stat().st_ino

    # the run record and its lineage: inputs are the resources at the commit
    state = json.loads((out / ".vxp" / "materialize.json").read_text())
    assert state["completed"] is True
    assert report.lineage is not None and report.lineage.parent == out / ".vxp" / "lineage"
    events = lines(report.lineage)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    inputs = {i["name"]: i for i in events[1]["inputs"]}
    ids = {str(row["id"]) for path in lockfiles for row in lines(path)}
    assert set(inputs) == ids
    assert {i["namespace"] for i in inputs.values()} == {f"vxp://{study.repository}"}
    assert {i["facets"]["version"]["datasetVersion"] for i in inputs.values()} == {locked.commit}
    assert {o["name"] for o in events[1]["outputs"]} == {
        str(out / name) for name in ("bids", "clinical-to-csv", "files")
    }


def test_a_warm_cache_downloads_nothing_and_resuming_repairs_the_output(
    embedded: Stack, locked: LockResult, cache: ObjectCache, tmp_path: Path
) -> None:
    lockfiles = _splits(locked)
    first = tmp_path / "first"
    materialize(lockfiles, ["files", "bids"], first, settings=embedded.settings, cache=cache)
    expected = tree(first)

    second = tmp_path / "second"
    report = materialize(
        lockfiles, ["files", "bids"], second, settings=embedded.settings, cache=cache
    )
    assert report.downloaded == {"files": 0, "bytes": 0}
    assert report.cached > 0
    assert tree(second) == expected

    # an interrupted run: outputs missing, one half-written, the record not completed
    nifti = sorted((second / "bids").rglob("*.nii.gz"))
    nifti[0].unlink()
    for path in sorted((second / "files").rglob("*.dcm"))[:3]:
        path.unlink()
    written = sorted((second / "files").rglob("*.dcm"))[0]
    written.unlink()
    written.write_bytes(b"half")
    (second / "bids" / "participants.tsv").unlink()
    (second / "bids" / f".participants.tsv.{'0' * 32}.part").write_text("half written")
    state = second / ".vxp" / "materialize.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "completed": False}))
    resumed = materialize(
        lockfiles, ["files", "bids"], second, settings=embedded.settings, cache=cache
    )
    assert resumed.resumed
    assert tree(second) == expected


def test_bytes_that_do_not_match_the_lockfile_are_refused_and_never_cached(
    embedded: Stack, locked: LockResult, cache: ObjectCache, tmp_path: Path
) -> None:
    source = next(p for p in _splits(locked) if any(r["files"] for r in lines(p)))
    rows = lines(source)
    victim = next(r for r in rows if r["files"])
    wrong = hashlib.sha256(b"not these bytes").hexdigest()
    victim["files"][0]["sha256"] = wrong  # type: ignore[index]
    tampered = tmp_path / "lock" / source.name
    tampered.parent.mkdir()
    tampered.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    with pytest.raises(VxpError) as caught:
        materialize(
            [tampered], ["files"], tmp_path / "out", settings=embedded.settings, cache=cache
        )
    assert "could not be materialized byte for byte" in caught.value.message
    assert f"the lockfile pins sha256 {wrong}" in caught.value.message
    assert not cache.has(wrong, int(victim["files"][0]["size"]))  # type: ignore[index]

    # beside its dataset.lock.json, an edited lockfile is refused before anything is read
    edited = locked.directory.parent / "edited"
    shutil.copytree(locked.directory, edited)
    (edited / source.name).write_text(tampered.read_text())
    with pytest.raises(InvalidInput, match="changed after it was locked"):
        materialize([edited / source.name], ["files"], tmp_path / "o2", settings=embedded.settings)


def test_a_commit_lakefs_does_not_have_and_a_foreign_output_are_refused(
    embedded: Stack, locked: LockResult, tmp_path: Path
) -> None:
    source = next(p for p in _splits(locked) if lines(p))
    gone = tmp_path / "resources.train.jsonl"
    gone.write_text(source.read_text().replace(locked.commit, "e" * 64))
    with pytest.raises(NotFound):
        materialize([gone], ["files"], tmp_path / "out", settings=embedded.settings)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not empty"):
        materialize([source], ["files"], busy, settings=embedded.settings)
    with pytest.raises(InvalidInput, match="unknown materializer"):
        materialize([source], ["nope"], tmp_path / "o3", settings=embedded.settings)


def test_a_bids_map_renames_and_skips_series(embedded: Stack, study: Study, tmp_path: Path) -> None:
    """A hand-written lockfile of every series (T1w and T2w), with a map that skips T1w and
    labels T2w with an acquisition entity."""
    from vxp_client import PlatformClient

    with PlatformClient(study.repository, "integration", settings=embedded.settings) as client:
        series = client.resources(type="DICOMSeries")
        commit = client.commit
    manifests: dict[str, dict[str, object]] = {}
    with PlatformClient(study.repository, commit, settings=embedded.settings) as client:
        for resource in series:
            run_folder = resource.paths[0].split("/")[2]
            if run_folder not in manifests:
                manifest = json.loads(client.open(f"raw/{SOURCE}/{run_folder}/_manifest.json"))
                manifests[run_folder] = {f["path"]: f for f in manifest["files"]}
    lockfile = tmp_path / "resources.all.jsonl"
    with lockfile.open("w") as stream:
        for resource in series:
            files = []
            for path in resource.paths:
                entry = manifests[path.split("/")[2]][path.split("/", 3)[3]]
                files.append({"path": path, "sha256": entry["sha256"], "size": entry["size"]})  # type: ignore[index]
            row = {
                "id": resource.id,
                "type": str(resource.type),
                "version": resource.version,
                "repository": study.repository,
                "commit": commit,
                "attributes": dict(resource.attributes),
                "files": files,
            }
            stream.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")
    bids_map = tmp_path / "map.yaml"
    bids_map.write_text(
        textwrap.dedent(
            """\
            rules:
              - match: {series_description: "^T1w"}
                skip: true
              - match: {series_description: "^T2w_SPACE$"}
                suffix: T2w
                acq: space
            """
        )
    )
    out = tmp_path / "out"
    report = materialize(
        [lockfile],
        ["bids"],
        out,
        settings=embedded.settings,
        options={"bids": {"map": str(bids_map), "name": "all series"}},
    )
    names = sorted(p.name for p in (out / "bids").rglob("*.nii.gz"))
    assert names == [f"sub-BASEL00{n}_acq-space_T2w.nii.gz" for n in range(1, 6)]
    assert sum("skipped by a rule" in s for s in report.results["bids"].skipped) == 5
    assert validate_bids(out / "bids").errors == []
    assert json.loads((out / "bids" / "dataset_description.json").read_text())["Name"] == (
        "all series"
    )


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A lab's materializer, installed the way a package registers one: an entry point of the
    group ``vxp.materializers`` in its distribution's metadata."""
    site = tmp_path / "site"
    (site / "lab_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "lab_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lab-plugin\nVersion: 1.0\n"
    )
    (site / "lab_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[vxp.materializers]\nseries-count = lab_plugin:SeriesCount\n"
    )
    (site / "lab_plugin.py").write_text(
        textwrap.dedent(
            """\
            from vxp.datasets.materialize import MaterializerResult

            class SeriesCount:
                name = "series-count"
                description = "how many instances each locked series has, checked"

                def materialize(self, resources, context):
                    series = [r for r in resources if r.type == "DICOMSeries"]
                    context.fetch(series)
                    lines = [
                        f"{r.id}\\t{sum(context.cached(f).stat().st_size > 0 for f in r.files)}"
                        for r in series
                    ]
                    context.write_text("counts.tsv", "\\n".join(lines) + "\\n")
                    return MaterializerResult(files=1, details={"series": len(series)})
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("lab_plugin", None)


def test_a_plugin_registered_by_entry_point_materializes(
    embedded: Stack, locked: LockResult, plugin: None, tmp_path: Path
) -> None:
    report = materialize(
        _splits(locked), ["series-count"], tmp_path / "out", settings=embedded.settings
    )
    counts = (tmp_path / "out" / "series-count" / "counts.tsv").read_text().splitlines()
    assert len(counts) == report.results["series-count"].details["series"] > 0
    assert all(line.endswith("\t12") for line in counts)


def test_the_cli_materializes_validates_and_reports_json(
    embedded: Stack, locked: LockResult, tmp_path: Path
) -> None:
    args = [a for path in _splits(locked) for a in ("-f", str(path))]
    out = tmp_path / "out"
    done = run_vxp(
        embedded,
        "materialize",
        *args,
        "-m",
        "bids",
        "-m",
        "clinical-to-csv",
        "-o",
        str(out),
        "--validate",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert body["bids_validation"]["errors"] == []
    assert set(body["materializers"]) == {"bids", "clinical-to-csv"}
    assert body["commits"] == [{"repository": locked.repository, "commit": locked.commit}]

    refused = run_vxp(
        embedded,
        "materialize",
        *args,
        "-m",
        "bids",
        "-o",
        str(tmp_path / "x"),
        "-O",
        "bids.colour=red",
    )
    assert refused.returncode == 1
    assert "unknown bids option(s): colour" in refused.stderr
    listed = run_vxp(embedded, "materialize", "--list")
    assert listed.returncode == 0 and "clinical-to-csv" in listed.stdout
    # a table for people, with where everything is
    shown = run_vxp(embedded, "materialize", *args, "-m", "files", "-o", str(tmp_path / "t"))
    assert shown.returncode == 0, shown.stderr
    assert "materialized into" in shown.stdout
    assert io.StringIO(shown.stdout).read().count("files") >= 1
