"""The promise of a lockfile (DESIGN.md, "Lockfiles"; catalog invariant 4): after the data moved
on — resources deleted and overwritten, tables evolved and dropped, compacted, snapshots
expired, garbage collected — materializing an old lockfile gives byte for byte what it gave
right after locking."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pydicom
import pytest
from pyiceberg.types import StringType

from tests.integration.materialize_support import (
    SOURCE,
    ingest_example,
    lines,
    lock_registered,
    run_vxp,
    tree,
)
from tests.support import Stack, catalog
from vxp.datasets.cache import ObjectCache
from vxp.datasets.materialize import materialize
from vxp.datasets.materialize.bids import validate_bids
from vxp.domain.refs import resolve
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_files import ingest_files
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import Outcome
from vxp.ingestion.study.plan import validate_study
from vxp_client import PlatformClient

pytestmark = pytest.mark.integration

MATERIALIZERS = ["bids", "clinical-to-csv", "files"]


def _change_the_data(stack: Stack, repository: str, folder: Path, imaging: Path) -> None:
    session = stack.session()
    settings = stack.settings
    # resources: BASEL-001's images are no longer delivered (deleted), one instance of
    # BASEL-002's T2w series has new pixels (the series is overwritten: a new version)
    moved = folder / "imaging-2"
    shutil.copytree(imaging, moved)
    shutil.rmtree(moved / "BASEL-001")
    instance = moved / "BASEL-002" / "T2w" / "0001.dcm"
    dataset = pydicom.dcmread(instance)
    pixels = dataset.pixel_array
    pixels[0:4, 0:4] = 4000
    dataset.PixelData = pixels.tobytes()
    dataset.save_as(instance)
    report = ingest_files(session, settings, repository, SOURCE, moved)
    assert report.outcome is Outcome.LANDED, report.to_json()
    # tables: a second delivery (corrected values, a new column, a new dataset)
    later = write_example_study(folder / "study-2", subjects=5, deliveries=2, seed=11)[1]
    report = ingest_study(session, settings, repository, SOURCE, validate_study(later))
    assert report.outcome is Outcome.LANDED, report.to_json()
    # by hand on integration: evolve, drop, compact and expire
    cat = catalog(stack, f"{repository}.integration")
    dm = cat.load_table(f"{SOURCE}.dm")
    with dm.update_schema() as update:
        update.add_column("remark", StringType())
    cat.drop_table(f"{SOURCE}.ae")
    vs = cat.load_table(f"{SOURCE}.vs")
    old = [s.snapshot_id for s in vs.snapshots()]
    vs.overwrite(vs.scan().to_arrow())
    vs.refresh().maintenance.expire_snapshots().by_ids(old).commit()
    assert {s.snapshot_id for s in vs.refresh().snapshots()}.isdisjoint(old)


def test_an_old_lockfile_materializes_byte_identically_after_the_data_moved_on(
    embedded: Stack, tmp_path: Path
) -> None:
    repository = f"t-{uuid.uuid4().hex[:12]}"
    study = ingest_example(embedded, repository, tmp_path / "example", subjects=5)
    locked = lock_registered(embedded, repository, tmp_path / "lock")
    lockfiles = [locked.directory / split.file for split in locked.splits]
    ids = {str(row["id"]) for path in lockfiles for row in lines(path)}
    assert any("/dicom-series/" in i for i in ids)

    before = tmp_path / "before"
    materialize(
        lockfiles,
        MATERIALIZERS,
        before,
        settings=embedded.settings,
        cache=ObjectCache(tmp_path / "cache-1"),
    )
    expected = tree(before)
    assert any(name.endswith(".nii.gz") for name in expected)
    assert any(name.endswith("dm.csv") for name in expected)

    _change_the_data(embedded, repository, tmp_path / "example", study.imaging)
    collected = run_vxp(embedded, "gc", "--repo", repository, "--older-than", "0s")
    assert collected.returncode == 0, collected.stdout + collected.stderr

    # the data really moved on
    head = resolve(embedded.session(), repository, "integration")
    assert head != locked.commit
    with PlatformClient(repository, head, settings=embedded.settings) as client:
        now = {r.id: r.version for r in client.resources(under=f"trial/{SOURCE}")}
        tables = client.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'basel'"
        ).column("table_name")
    then = {str(r["id"]): r["version"] for path in lockfiles for r in lines(path)}
    assert any(i not in now for i in then if "BASEL-001" in i), "BASEL-001's images are gone"
    assert any(now.get(i, 0) > v for i, v in then.items() if "/dicom-series/" in i)
    assert "ae" not in tables.to_pylist()

    # the old lockfile, through an empty cache: every byte comes from lakeFS at the pinned
    # commit again
    after = tmp_path / "after"
    materialize(
        lockfiles,
        MATERIALIZERS,
        after,
        settings=embedded.settings,
        cache=ObjectCache(tmp_path / "cache-2"),
    )
    assert tree(after) == expected
    assert validate_bids(after / "bids").errors == []
