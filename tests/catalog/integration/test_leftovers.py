"""Temporary branches a killed catalog left are deleted, never one a live commit uses: issue
"Catalog security", finding 3."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.catalog.conftest import Admin, CatalogServer, LakeFSServer
from vxp.catalog import gc, leftovers
from vxp.core.names import CATALOG_BRANCH_PREFIX
from vxp.lakefs import LakeFS, LakeFSUnreachable, Session


def _hidden(admin: Admin, name: str) -> None:
    admin.client.post(
        f"/repositories/{admin.repo}/branches",
        json={"name": name, "source": "main", "hidden": True},
    ).raise_for_status()


def _temp_branches(admin: Admin) -> set[str]:
    response = admin.client.get(
        f"/repositories/{admin.repo}/branches", params={"amount": 1000, "show_hidden": True}
    )
    response.raise_for_status()
    return {
        str(b["id"])
        for b in response.json()["results"]
        if str(b["id"]).startswith(CATALOG_BRANCH_PREFIX)
    }


def test_only_leftovers_are_swept(lakefs_server: LakeFSServer, admin: Admin) -> None:
    now = time.time()
    killed = leftovers.new_temp_branch(now - 3600)
    leftovers.release(killed)  # as if its catalog was killed
    in_use = leftovers.new_temp_branch(now - 3600)  # this process's: a slow, live commit
    young = leftovers.new_temp_branch(now - 10)
    leftovers.release(young)  # another catalog's live commit
    for name in (killed, in_use, young):
        _hidden(admin, name)
    with LakeFS(lakefs_server.url) as lakefs:
        session = lakefs.as_user(lakefs_server.access_key_id, lakefs_server.secret_access_key)
        assert leftovers.sweep(session, admin.repo, 900, now=now) == [killed]
    assert _temp_branches(admin) == {in_use, young}
    leftovers.release(in_use)


def test_a_write_sweeps_the_repository(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    killed = leftovers.new_temp_branch(time.time() - 3600)
    leftovers.release(killed)
    _hidden(admin, killed)
    with catalog_server.http() as http:
        response = http.post(f"/v1/{repo}.main/namespaces", json={"namespace": ["ns"]})
        assert response.status_code == 200, response.text
    # the sweep runs in the background: wait for it, boundedly
    deadline = time.monotonic() + 30
    while killed in _temp_branches(admin) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert killed not in _temp_branches(admin)


def test_gc_deletes_leftovers_before_marking(
    catalog_server: CatalogServer, lakefs_server: LakeFSServer, admin: Admin
) -> None:
    killed = leftovers.new_temp_branch(time.time() - 3600)
    leftovers.release(killed)
    _hidden(admin, killed)
    settings = catalog_server.settings
    warehouse = gc.Warehouse(settings.warehouse_root, allowed_locations=settings.allowed_locations)
    with LakeFS(lakefs_server.url) as lakefs:
        session = lakefs.as_user(lakefs_server.access_key_id, lakefs_server.secret_access_key)
        dry = gc.collect(session, warehouse, repos=[admin.repo], dry_run=True)
        assert f"{admin.repo}/{killed}" in dry.leftover_branches
        assert killed in _temp_branches(admin)
        report = gc.collect(session, warehouse, repos=[admin.repo])
    assert f"{admin.repo}/{killed}" in report.leftover_branches
    assert killed not in _temp_branches(admin)


def test_gc_sweeps_only_the_swept_repositories_with_the_catalogs_lease(
    catalog_server: CatalogServer, lakefs_server: LakeFSServer, admin: Admin
) -> None:
    # a second repository, with a leftover of its own that `--repo` must not touch
    other = Admin(lakefs_server, f"{admin.repo}x")
    other.client.post(
        "/repositories",
        json={"name": other.repo, "storage_namespace": f"local://{other.repo}"},
    ).raise_for_status()
    now = time.time()
    # 20 minutes old: past the default 15-minute lease, within a catalog's 1-hour one
    within = leftovers.new_temp_branch(now - 1200)
    old = leftovers.new_temp_branch(now - 7200)
    elsewhere = leftovers.new_temp_branch(now - 7200)
    for name in (within, old, elsewhere):
        leftovers.release(name)
    _hidden(admin, within)
    _hidden(admin, old)
    _hidden(other, elsewhere)
    settings = catalog_server.settings
    warehouse = gc.Warehouse(settings.warehouse_root, allowed_locations=settings.allowed_locations)
    try:
        with LakeFS(lakefs_server.url) as lakefs:
            session = lakefs.as_user(lakefs_server.access_key_id, lakefs_server.secret_access_key)
            report = gc.collect(session, warehouse, repos=[admin.repo], lease_seconds=3600)
        assert report.leftover_branches == [f"{admin.repo}/{old}"]
        assert _temp_branches(admin) == {within}
        assert _temp_branches(other) == {elsewhere}
    finally:
        other.client.close()


@pytest.mark.parametrize(
    ("cause", "merged_first"),
    [(httpx.ReadTimeout("slow"), True), (httpx.ConnectError("refused"), False)],
    ids=["answer-lost-after-landing", "never-sent"],
)
def test_a_lost_merge_answer_is_settled_from_lakefs(
    catalog_server: CatalogServer,
    repo: str,
    admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
    cause: Exception,
    merged_first: bool,
) -> None:
    """The first merge's answer is lost: after it landed (a read timeout), or before the
    request left (connection refused). Either way the client gets 200 and the change lands
    exactly once."""
    original = Session.merge
    lost: list[str] = []

    def lossy(self: Session, repo_: str, source: str, *args: Any, **kwargs: Any) -> str:
        if lost or not source.startswith(CATALOG_BRANCH_PREFIX):
            return original(self, repo_, source, *args, **kwargs)
        lost.append(source)
        if merged_first:
            original(self, repo_, source, *args, **kwargs)
        error = LakeFSUnreachable("lakeFS is unreachable", status=0, detail=str(cause))
        raise error from cause

    monkeypatch.setattr(Session, "merge", lossy)
    with catalog_server.http() as http:
        response = http.post(f"/v1/{repo}.main/namespaces", json={"namespace": ["ns"]})
    assert response.status_code == 200, response.text
    assert lost
    landed = [c for c in admin.log() if "create namespace" in str(c.get("message"))]
    assert len(landed) == 1


def test_gc_ignores_a_planted_malformed_pointer(
    catalog_server: CatalogServer, lakefs_server: LakeFSServer, admin: Admin
) -> None:
    """The catalog refuses to load it, so it keeps no file alive; it must not stop gc for the
    whole installation (issue "Catalog security", deliverable 1)."""
    objects = f"/repositories/{admin.repo}/branches/main/objects"
    for path, body in (
        ("_vxp/catalog/tables/evil/garbage.json", b"not json"),
        ("_vxp/catalog/tables/evil/nul.json", b'{"metadata-location": "file:///x\\u0000y"}'),
    ):
        admin.client.post(objects, params={"path": path}, content=body).raise_for_status()
    admin.client.post(
        f"/repositories/{admin.repo}/branches/main/commits", json={"message": "plant"}
    ).raise_for_status()
    settings = catalog_server.settings
    warehouse = gc.Warehouse(settings.warehouse_root, allowed_locations=settings.allowed_locations)
    with LakeFS(lakefs_server.url) as lakefs:
        session = lakefs.as_user(lakefs_server.access_key_id, lakefs_server.secret_access_key)
        report = gc.collect(session, warehouse, repos=[admin.repo], dry_run=True)
    planted = [p for p in report.bad_pointers if p.repository == admin.repo]
    assert len(planted) == 2
