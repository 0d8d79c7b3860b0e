"""Warehouse garbage collection (invariant 4): nothing a retained commit reads is ever deleted.

Each test builds history on a real lakeFS through the catalog, plants unreachable files, runs gc
with no age margin (``older_than=0``) and checks the exact set of files that disappeared, then
reads the tables back at retained commits and tags.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table
from typer.testing import CliRunner

from tests.catalog.conftest import Admin, CatalogServer, LakeFSServer
from tests.catalog.integration.test_views import create_body, version
from vxp.catalog import commits, gc, leftovers
from vxp.cli import context
from vxp.cli.app import app
from vxp.core.settings import Key
from vxp.lakefs import LakeFS, Session

ARROW = pa.schema([("id", pa.int64())])
NOW = timedelta(0)


def ids(values: list[int]) -> pa.Table:
    return pa.table({"id": values}, schema=ARROW)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def local(location: str) -> Path:
    return Path(location.removeprefix("file://"))


def rows(table: Table, snapshot_id: int | None = None) -> list[int]:
    return sorted(table.scan(snapshot_id=snapshot_id).to_arrow()["id"].to_pylist())


def plant(path: Path, content: bytes = b"not referenced by anything") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def session(lakefs_server: LakeFSServer) -> Iterator[Session]:
    client = LakeFS(lakefs_server.url)
    yield client.as_user(lakefs_server.access_key_id, lakefs_server.secret_access_key)
    client.close()


@pytest.fixture
def warehouse(catalog_server: CatalogServer) -> gc.Warehouse:
    settings = catalog_server.settings
    return gc.Warehouse(settings.warehouse_root, allowed_locations=settings.allowed_locations)


@pytest.fixture
def sweep(session: Session, warehouse: gc.Warehouse, repo: str) -> Callable[..., gc.Report]:
    """gc as most tests here run it: this test's repository, no age margin; keywords override."""

    def run(**options: Any) -> gc.Report:
        return gc.collect(session, warehouse, **({"repos": [repo], "older_than": NOW} | options))

    return run


@pytest.fixture
def repo_dir(catalog_server: CatalogServer, repo: str) -> Path:
    """Where the tables of this test's repository live, the prefix gc sweeps."""
    return catalog_server.warehouse_dir / repo


def vxp_gc(lakefs_server: LakeFSServer, catalog_server: CatalogServer, *args: str) -> str:
    """The output of `vxp gc ARGS`, run with what `vxp env` gives it for this catalog."""
    # nothing of the caller's shell or of a stack's client file: only these settings
    env: dict[str, str | None] = {key.value: None for key in Key}
    env |= {
        Key.HOME: str(catalog_server.warehouse_dir.parent / "no-stack"),
        Key.LAKEFS_ENDPOINT: lakefs_server.url,
        Key.LAKEFS_ACCESS_KEY_ID: lakefs_server.access_key_id,
        Key.LAKEFS_SECRET_ACCESS_KEY: lakefs_server.secret_access_key,
        Key.WAREHOUSE_ROOT: catalog_server.settings.warehouse_root,
        Key.CATALOG_ALLOWED_LOCATIONS: ",".join(catalog_server.settings.allowed_locations),
        "COLUMNS": "300",
    }
    # the CLI resolves its settings once per process; this process runs it more than once
    context.settings.cache_clear()
    result = CliRunner().invoke(app, ["gc", *args], env=env)
    context.settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def delete_branch(admin: Admin, name: str) -> None:
    admin.client.delete(f"/repositories/{admin.repo}/branches/{name}").raise_for_status()


def create_repository(admin: Admin, name: str) -> None:
    admin.client.post(
        "/repositories",
        json={"name": name, "storage_namespace": f"local://{name}", "default_branch": "main"},
    ).raise_for_status()


def test_gc_deletes_only_what_no_retained_commit_reaches(
    catalog_server: CatalogServer,
    repo: str,
    admin: Admin,
    sweep: Callable[..., gc.Report],
    repo_dir: Path,
) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    admin.branch("work")
    table = cat.create_table(("work", "trial", "t"), schema=ARROW)
    table.append(ids([1, 2, 3]))
    appended = table.current_snapshot()
    assert appended is not None
    admin.tag("v1", admin.head("work"))
    table.overwrite(ids([9]))
    overwritten_at = admin.head("work")
    # statistics files are referenced from metadata only, never from a manifest
    stats = plant(local(table.location()) / "metadata" / f"stats-{uuid.uuid4()}.puffin")
    partition_stats = plant(local(table.location()) / "metadata" / f"pstats-{uuid.uuid4()}.parquet")
    snapshot_id = table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    with catalog_server.http() as http:
        http.post(
            f"/v1/{repo}.work/namespaces/trial/tables/t",
            json={
                "requirements": [],
                "updates": [
                    {
                        "action": "set-statistics",
                        "statistics": {
                            "snapshot-id": snapshot_id,
                            "statistics-path": stats.as_uri(),
                            "file-size-in-bytes": stats.stat().st_size,
                            "file-footer-size-in-bytes": 0,
                            "blob-metadata": [],
                        },
                    },
                    {
                        "action": "set-partition-statistics",
                        "partition-statistics": {
                            "snapshot-id": snapshot_id,
                            "statistics-path": partition_stats.as_uri(),
                            "file-size-in-bytes": partition_stats.stat().st_size,
                        },
                    },
                ],
            },
        ).raise_for_status()

    # a table that only ever existed on a branch that is then deleted
    admin.branch("scratch", "work")
    scratch = cat.create_table(("scratch", "trial", "tmp"), schema=ARROW)
    scratch.append(ids([7]))
    delete_branch(admin, "scratch")
    cat.purge_table(("work", "trial", "t"))

    orphans = {
        plant(local(table.location()) / "data" / "orphan.parquet"),
        # what a lost commit race leaves behind: a metadata file no pointer names
        plant(local(table.location()) / "metadata" / f"00003-{uuid.uuid4()}.metadata.json"),
        plant(repo_dir / "trial" / f"gone-{uuid.uuid4().hex}" / "data" / "x.parquet"),
    }
    scratch_files = files_under(local(scratch.location()))
    assert scratch_files
    before = files_under(repo_dir)
    unreachable_bytes = sum(p.stat().st_size for p in orphans | scratch_files)

    report = sweep()

    assert before - files_under(repo_dir) == orphans | scratch_files
    assert report.deleted_files == len(orphans | scratch_files)
    assert report.deleted_bytes == unreachable_bytes
    assert report.kept_reachable == len(before) - report.deleted_files
    assert report.missing_reachable == []
    assert stats.exists() and partition_stats.exists()

    # every retained version still reads exactly its rows
    at_tag = catalog_server.pyiceberg(f"{repo}.v1").load_table("trial.t")
    assert rows(at_tag) == [1, 2, 3]
    at_commit = catalog_server.pyiceberg(f"{repo}.{overwritten_at}").load_table("trial.t")
    assert rows(at_commit) == [9]
    assert rows(at_commit, appended.snapshot_id) == [1, 2, 3]

    # a second run finds nothing left to do
    again = sweep()
    assert again.deleted_files == 0
    assert again.kept_reachable == report.kept_reachable


def test_commits_behind_merges_and_hidden_branches_are_retained(
    catalog_server: CatalogServer,
    repo: str,
    admin: Admin,
    sweep: Callable[..., gc.Report],
    repo_dir: Path,
) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    admin.branch("feature")
    table = cat.create_table(("feature", "trial", "f"), schema=ARROW)
    table.append(ids([1]))
    first = admin.head("feature")
    table.append(ids([2]))
    assert admin.merge("feature", "main").status_code == 200
    # `first` is now reachable only through the merge commit's second parent
    delete_branch(admin, "feature")
    cat.purge_table(("main", "trial", "f"))

    # hidden branches (the catalog's temporary ones) retain their commits while they exist
    admin.client.post(
        f"/repositories/{repo}/branches",
        json={"name": "vxp-catalog-gc-test", "source": "main", "hidden": True},
    ).raise_for_status()
    hidden = cat.create_table(("vxp-catalog-gc-test", "trial", "h"), schema=ARROW)
    hidden.append(ids([5]))
    hidden_files = files_under(local(hidden.location()))

    before = files_under(repo_dir)
    report = sweep()
    assert report.deleted_files == 0
    assert files_under(repo_dir) == before
    assert rows(catalog_server.pyiceberg(f"{repo}.{first}").load_table("trial.f")) == [1]

    delete_branch(admin, "vxp-catalog-gc-test")
    sweep()
    assert before - files_under(repo_dir) == hidden_files
    assert rows(catalog_server.pyiceberg(f"{repo}.{first}").load_table("trial.f")) == [1]


def test_uncommitted_pointers_are_retained(
    catalog_server: CatalogServer, repo: str, admin: Admin, sweep: Callable[..., gc.Report]
) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    admin.branch("gone")
    table = cat.create_table(("gone", "trial", "u"), schema=ARROW)
    # named only by a commit of the deleted branch: the staged pointer names a later version
    created = local(table.metadata_location)
    table.append(ids([3]))
    pointer_path = "_vxp/catalog/tables/trial/u.json"
    pointer = admin.client.get(
        f"/repositories/{repo}/refs/gone/objects", params={"path": pointer_path}
    )
    pointer.raise_for_status()
    delete_branch(admin, "gone")
    # the same pointer, staged on another branch but never committed
    admin.branch("staging")
    admin.client.post(
        f"/repositories/{repo}/branches/staging/objects",
        params={"path": pointer_path},
        content=pointer.content,
    ).raise_for_status()
    files = files_under(local(table.location()))

    sweep()
    assert files_under(local(table.location())) == files - {created}
    # the catalog reads committed pointers (by commit ID): commit the staged one to read it
    admin.client.post(
        f"/repositories/{repo}/branches/staging/commits", json={"message": "the staged pointer"}
    ).raise_for_status()
    assert rows(cat.load_table(("staging", "trial", "u"))) == [3]

    delete_branch(admin, "staging")
    sweep()
    assert files_under(local(table.location())) == set()


def test_dry_run_deletes_nothing(
    catalog_server: CatalogServer,
    lakefs_server: LakeFSServer,
    repo: str,
    sweep: Callable[..., gc.Report],
    repo_dir: Path,
) -> None:
    table = catalog_server.trial(repo).create_table("trial.t", schema=ARROW)
    table.append(ids([1, 2]))
    orphan = plant(local(table.location()) / "data" / "orphan.parquet")
    before = files_under(repo_dir)

    report = sweep(dry_run=True)
    assert files_under(repo_dir) == before
    assert report.deleted_files == 1
    assert report.sample == [gc.file_key(orphan.as_uri())]

    # the CLI says the same and deletes nothing either
    output = vxp_gc(
        lakefs_server, catalog_server, "--repo", repo, "--dry-run", "--older-than", "0s"
    )
    assert "would delete" in output and "1 file," in output
    assert str(orphan) in output
    assert files_under(repo_dir) == before

    real = sweep()
    assert before - files_under(repo_dir) == {orphan}
    assert real.deleted_files == report.deleted_files


def test_older_than_protects_fresh_files(
    catalog_server: CatalogServer, repo: str, sweep: Callable[..., gc.Report], repo_dir: Path
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(ids([1]))
    data = local(table.location()) / "data"
    # files of a commit still in flight: written, pointer not merged yet
    in_flight = {plant(data / "in-flight.parquet"), plant(data / "in-flight.avro")}
    stale = plant(data / "stale.parquet")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    before = files_under(repo_dir)

    report = sweep(older_than=timedelta(hours=1))
    assert before - files_under(repo_dir) == {stale}
    assert report.kept_young == len(in_flight)

    sweep()
    assert before - files_under(repo_dir) == {stale} | in_flight
    assert rows(cat.load_table("trial.t")) == [1]


def test_other_repositories_are_never_touched(
    catalog_server: CatalogServer, repo: str, admin: Admin, sweep: Callable[..., gc.Report]
) -> None:
    root = catalog_server.warehouse_dir
    # its prefix starts with this repository's name: only "<repo>/" itself is swept
    other = f"{repo}-other"
    create_repository(admin, other)
    foreign = {
        plant(root / other / "trial" / "orphan.parquet"),
        plant(root / f"{repo}x" / "orphan.parquet"),
        plant(root / f"loose-{repo}.txt"),
    }
    # a table of the other repository whose files lie under this repository's prefix
    other_cat = catalog_server.pyiceberg(f"{other}.main")
    other_cat.create_namespace("trial")
    shared = other_cat.create_table(
        "trial.shared", schema=ARROW, location=(root / repo / "borrowed").as_uri()
    )
    shared.append(ids([4, 5]))
    borrowed = files_under(root / repo / "borrowed")
    own_orphan = plant(root / repo / "trial" / "orphan.parquet")

    sweep()
    assert all(path.exists() for path in foreign | borrowed)
    assert not own_orphan.exists()
    assert rows(other_cat.load_table("trial.shared")) == [4, 5]

    # sweeping the other repository deletes its own orphan, still not the borrowed files
    sweep(repos=[other])
    assert not (root / other / "trial" / "orphan.parquet").exists()
    assert all(path.exists() for path in borrowed)
    assert rows(other_cat.load_table("trial.shared")) == [4, 5]


def test_unreadable_retained_metadata_stops_the_run(
    catalog_server: CatalogServer, repo: str, sweep: Callable[..., gc.Report]
) -> None:
    table = catalog_server.trial(repo).create_table("trial.t", schema=ARROW)
    table.append(ids([1]))
    manifest_list = local(table.current_snapshot().manifest_list)  # type: ignore[union-attr]
    orphan = plant(local(table.location()) / "data" / "orphan.parquet")
    hidden = manifest_list.rename(manifest_list.with_name("moved-away"))
    try:
        with pytest.raises(gc.GcError, match="manifest list"):
            sweep()
        assert orphan.exists()
    finally:
        # every gc run reads every repository: leave none broken for later tests
        hidden.rename(manifest_list)


def test_unknown_repository_is_refused(
    session: Session, warehouse: gc.Warehouse, repo: str
) -> None:
    with pytest.raises(gc.GcError, match="no lakeFS repository named 'no-such-repo'") as caught:
        gc.collect(session, warehouse, repos=["no-such-repo"], older_than=NOW)
    # the message names the repositories there are (up to 20)
    assert "there are: " in str(caught.value)
    assert repo in str(caught.value) or " …" in str(caught.value)


def test_view_metadata_is_kept(
    catalog_server: CatalogServer, repo: str, admin: Admin, sweep: Callable[..., gc.Report]
) -> None:
    base = f"/v1/{repo}.main"
    views = f"{base}/namespaces/trial/views"
    with catalog_server.http() as http:
        http.post(f"{base}/namespaces", json={"namespace": ["trial"]}).raise_for_status()
        created = http.post(views, json=create_body("v"))
        assert created.status_code == 200, created.text
        first = created.json()["metadata-location"]
        admin.tag("v1", admin.head())
        replace = {
            "requirements": [],
            "updates": [
                {"action": "add-view-version", "view-version": version("select 2", 2)},
                {"action": "set-current-view-version", "view-version-id": -1},
            ],
        }
        replaced = http.post(f"{views}/v", json=replace)
        assert replaced.status_code == 200, replaced.text
        second = replaced.json()["metadata-location"]

        # a view that only ever existed on a branch that is then deleted
        admin.branch("scratch")
        scratch = http.post(
            f"/v1/{repo}.scratch/namespaces/trial/views", json=create_body("gone")
        ).json()["metadata-location"]
        delete_branch(admin, "scratch")
        # what a lost commit race leaves behind: a view metadata file no pointer names
        orphan = plant(local(second).with_name(f"00002-{uuid.uuid4()}.metadata.json"))

        report = sweep()

        # the view loads at the branch head and at the tag, each with its own version
        current = http.get(f"{views}/v")
        assert current.status_code == 200, current.text
        assert current.json()["metadata"]["current-version-id"] == 2
        tagged = http.get(f"/v1/{repo}.v1/namespaces/trial/views/v")
        assert tagged.status_code == 200, tagged.text
        assert tagged.json()["metadata"]["current-version-id"] == 1
        assert local(first).exists() and local(second).exists()
        assert not local(scratch).exists() and not orphan.exists()
        assert report.deleted_files == 2
        # marking reads every repository: other tests' views count too
        assert report.view_metadata_files >= 2


def test_allowed_locations_are_marked_but_never_swept(
    catalog_server: CatalogServer,
    lakefs_server: LakeFSServer,
    repo: str,
    session: Session,
    warehouse: gc.Warehouse,
) -> None:
    cat = catalog_server.trial(repo)
    outside = catalog_server.allowed_dir / repo
    table = cat.create_table("trial.t", schema=ARROW, location=(outside / "t").as_uri())
    table.append(ids([1]))
    # a file under the swept prefix that only the outside table's metadata references
    imported = catalog_server.warehouse_dir / repo / "imported" / "x.parquet"
    imported.parent.mkdir(parents=True)
    pq.write_table(ids([2]), imported)
    table.add_files([imported.as_uri()])
    # unreferenced, but outside <root>/<repo>/: never listed, never deleted
    stray = plant(outside / "t" / "data" / "stray.parquet")
    orphan = plant(catalog_server.warehouse_dir / repo / "trial" / "orphan.parquet")
    kept = files_under(outside)

    # a gc that does not know the catalog's allowed locations runs, but takes the table for a
    # planted pointer: it reports it and would delete the file only that table uses, which is
    # why gc must be given the catalog's VXP_CATALOG_ALLOWED_LOCATIONS (docs/reference/gc.md)
    unaware = gc.Warehouse(catalog_server.settings.warehouse_root)
    report = gc.collect(session, unaware, repos=[repo], older_than=NOW, dry_run=True)
    # one per version of the pointer (create, append, add_files)
    bad = [b for b in report.bad_pointers if b.repository == repo]
    assert bad and {b.table for b in bad} == {"trial.t"}
    assert all("outside the warehouse root" in b.reason for b in bad)
    assert imported.exists() and orphan.exists()

    # the CLI takes them from VXP_CATALOG_ALLOWED_LOCATIONS, as the catalog does
    vxp_gc(lakefs_server, catalog_server, "--repo", repo, "--older-than", "0s")
    assert not orphan.exists()
    assert imported.exists() and stray.exists()
    assert files_under(outside) == kept
    assert rows(cat.load_table("trial.t")) == [1, 2]


def test_tag_survives_compaction_expiry_and_gc(
    catalog_server: CatalogServer, repo: str, admin: Admin, sweep: Callable[..., gc.Report]
) -> None:
    """Invariant 4 for the maintenance a branch sees most: compact, expire, then collect."""
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.events", schema=ARROW)
    for batch in ([1], [2], [3]):
        table.append(ids(batch))
    admin.tag("before-maintenance", admin.head())
    old_snapshots = [s.snapshot_id for s in table.refresh().snapshots()]

    # compaction: the same rows rewritten into one file, then the old snapshots expired
    table.overwrite(ids([1, 2, 3]))
    table.refresh().maintenance.expire_snapshots().by_ids(old_snapshots).commit()
    assert {s.snapshot_id for s in table.refresh().snapshots()}.isdisjoint(old_snapshots)

    report = sweep()
    assert report.deleted_files == 0  # every old file is still reachable from the tag

    frozen = catalog_server.pyiceberg(f"{repo}.before-maintenance").load_table("trial.events")
    assert rows(frozen) == [1, 2, 3]
    assert [s.snapshot_id for s in frozen.snapshots()] == old_snapshots
    # each pre-compaction snapshot still reads its own rows
    assert [rows(frozen, sid) for sid in old_snapshots] == [[1], [1, 2], [1, 2, 3]]
    assert rows(cat.load_table("trial.events")) == [1, 2, 3]


def test_a_pointer_outside_the_warehouse_is_reported_and_never_stops_gc(
    catalog_server: CatalogServer,
    lakefs_server: LakeFSServer,
    repo: str,
    admin: Admin,
    repo_dir: Path,
) -> None:
    """A pointer anyone can plant with lakeFS's API, naming metadata outside the warehouse and
    the allowed locations, keeps nothing alive and is never read; gc runs for the whole
    installation, reports it, and every file of the valid tables beside it survives (issue
    "Catalog security", deliverable 1)."""
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(ids([1, 2]))
    table.append(ids([3]))
    # a metadata file an engine with write access to the warehouse could plant: valid, but its
    # last snapshot's manifest list is a file of the gc host
    raw = local(table.metadata_location).read_bytes()
    document = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    document["snapshots"][-1]["manifest-list"] = "file:///etc/passwd"
    crafted = plant(
        repo_dir / "evil" / "metadata" / f"00000-{uuid.uuid4()}.metadata.json",
        json.dumps(document).encode(),
    )
    kept = files_under(repo_dir)
    orphan = plant(repo_dir / "trial" / "orphan.parquet")
    objects = f"/repositories/{repo}/branches/main/objects"
    planted = {
        "_vxp/catalog/tables/evil/passwd.json": "file:///etc/passwd",
        "_vxp/catalog/tables/evil/elsewhere.json": "s3://other-bucket/x/00001.metadata.json",
        "_vxp/catalog/views/evil/v.json": "file:///proc/self/environ",
    }
    # inside the warehouse, but the catalog answers 404 (no file) or 400 (not metadata)
    data_file = min(p for p in kept if p.suffix == ".parquet")
    inside = {
        "_vxp/catalog/tables/evil/missing.json": (repo_dir / "evil" / "none.json").as_uri(),
        "_vxp/catalog/tables/evil/notmeta.json": data_file.as_uri(),
    }
    # loadable by the catalog (inside the warehouse): not a bad pointer
    crafted_pointer = {"_vxp/catalog/tables/evil/crafted.json": crafted.as_uri()}
    for path, location in (planted | inside | crafted_pointer).items():
        body = f'{{"metadata-location": "{location}"}}'.encode()
        admin.client.post(objects, params={"path": path}, content=body).raise_for_status()
    admin.client.post(
        f"/repositories/{repo}/branches/main/commits", json={"message": "plant"}
    ).raise_for_status()

    output = vxp_gc(
        lakefs_server, catalog_server, "--repo", repo, "--older-than", "0s", "--format", "json"
    )
    report = json.loads(output[output.index("{") :])
    mine = {b["table"]: b for b in report["bad_pointers"] if b["repository"] == repo}
    assert set(mine) == {"evil.passwd", "evil.elsewhere", "evil.v", "evil.missing", "evil.notmeta"}
    assert {b["path"] for b in mine.values()} == set(planted) | set(inside)
    for bad in mine.values():
        assert bad["ref"], bad
        if bad["path"] in planted:
            assert "outside the warehouse root and the allowed locations" in bad["reason"], bad
    assert "does not exist" in mine["evil.missing"]["reason"]
    assert "is not Iceberg table metadata" in mine["evil.notmeta"]["reason"]
    # the crafted metadata's manifest list is never read; the rest of it is marked
    skipped = [f for f in report["skipped_files"] if f["referenced_by"] == crafted.as_uri()]
    assert [(f["kind"], f["location"]) for f in skipped] == [
        ("manifest list", "file:///etc/passwd")
    ]
    assert "outside the warehouse root and the allowed locations" in skipped[0]["reason"]
    # gc ran: the orphan is gone, every file of the valid table is there and it reads back
    assert not orphan.exists()
    assert files_under(repo_dir) == kept
    assert rows(cat.load_table("trial.t")) == [1, 2, 3]

    # the table output names each one too
    text = vxp_gc(lakefs_server, catalog_server, "--repo", repo, "--dry-run")
    assert "pointer(s) the catalog refuses to load were ignored" in text
    for name in mine:
        assert name in text


def test_a_branch_made_ahead_for_a_next_commit_retains_nothing(
    catalog_server: CatalogServer,
    repo: str,
    admin: Admin,
    sweep: Callable[..., gc.Report],
    repo_dir: Path,
) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    admin.branch("scratch")
    table = cat.create_table(("scratch", "trial", "s"), schema=ARROW)
    table.append(ids([1]))
    # the landing made the caller's next temporary branch at scratch's head, in lakeFS
    commits.SPARES._maker.submit(lambda: None).result(timeout=30)
    ahead = [spare.name for _, spare in commits.SPARES._spares.values() if spare.repo == repo]
    assert ahead and all(leftovers.made_ahead(name) for name in ahead)
    files = files_under(local(table.location()))
    delete_branch(admin, "scratch")

    sweep()
    # only that branch led to scratch's commits: their files are collected
    assert not files & files_under(repo_dir)
