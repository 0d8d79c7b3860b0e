"""``vxp checkout`` on the embedded stack: working copies of branches, tags (snapshots), commit
IDs and ref expressions; incremental updates by checksum; local edits protected; resuming."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

import pytest

from tests.integration.materialize_support import run_vxp
from tests.support import Stack
from vxp.core.errors import Conflict, InvalidInput
from vxp.datasets.checkout import STATE_FILE, checkout, read_state
from vxp.domain.refs import create_snapshot
from vxp.domain.repositories import create_repository
from vxp.lakefs import LakeFSUnreachable, Session

pytestmark = pytest.mark.integration

BRANCH = "work"


def _commit(session: Session, repo: str, changes: dict[str, bytes | None], message: str) -> str:
    for path, data in changes.items():
        if data is None:
            session.delete_object(repo, BRANCH, path)
        else:
            session.upload_object(repo, BRANCH, path, data)
    return session.commit(repo, BRANCH, message, {})


@pytest.fixture
def repo(embedded: Stack, repo_name: str) -> str:
    session = embedded.session()
    create_repository(session, repo_name, embedded.settings.storage_namespace_prefix)
    session.create_branch(repo_name, BRANCH, "integration")
    _commit(
        session,
        repo_name,
        {
            "raw/a/one.txt": b"one",
            "raw/a/two.txt": b"two",
            "raw/b/deep/three.bin": bytes(range(256)) * 40,
            "docs/readme.md": b"# hello\n",
        },
        "first",
    )
    return repo_name


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != STATE_FILE
    }


def _files_at(session: Session, repo: str, ref: str, prefix: str = "") -> dict[str, bytes]:
    return {
        e.path: session.get_object(repo, ref, e.path) or b""
        for e in session.list_objects(repo, ref, prefix, delimiter="")
    }


def test_checkout_then_update_transfers_only_what_changed(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    session = embedded.session()
    work = tmp_path / "copy"
    first = checkout(session, repo, BRANCH, work)
    assert first.previous is None
    assert set(first.added) >= {"raw/a/one.txt", "raw/b/deep/three.bin", "docs/readme.md"}
    assert _files(work) == _files_at(session, repo, BRANCH)
    state = read_state(work)
    assert state is not None and state["commit"] == first.commit
    assert state["ref"] == BRANCH and state["repository"] == repo

    moved = _commit(
        session,
        repo,
        {"raw/a/one.txt": b"ONE, changed", "raw/a/two.txt": None, "raw/c/new.txt": b"new"},
        "second",
    )
    again = checkout(session, repo, BRANCH, work)
    assert (again.previous, again.commit) == (first.commit, moved)
    assert again.added == ["raw/c/new.txt"]
    assert again.updated == ["raw/a/one.txt"]
    assert again.removed == ["raw/a/two.txt"]
    assert again.unchanged == len(first.added) - 2
    assert again.bytes == len(b"ONE, changed") + len(b"new")
    assert (work / "raw/a/one.txt").read_bytes() == b"ONE, changed"
    assert not (work / "raw/a/two.txt").exists()
    nothing = checkout(session, repo, BRANCH, work)
    assert (nothing.added, nothing.updated, nothing.removed, nothing.bytes) == ([], [], [], 0)


def test_tags_snapshots_commits_and_ref_expressions_all_check_out(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    session = embedded.session()
    old = session.branch_head(repo, BRANCH)
    assert old is not None
    session.create_tag(repo, "v1", old)
    snapshot = create_snapshot(session, repo, "before-change", BRANCH)
    _commit(session, repo, {"raw/a/one.txt": b"later"}, "later")
    for ref in ("v1", "before-change", old, f"{BRANCH}~1"):
        report = checkout(session, repo, ref, tmp_path / ref.replace("~", "-"))
        assert report.commit == old == snapshot.commit_id
        assert (tmp_path / ref.replace("~", "-") / "raw/a/one.txt").read_bytes() == b"one"


def test_local_edits_are_never_lost_without_force(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    session = embedded.session()
    work = tmp_path / "copy"
    checkout(session, repo, BRANCH, work)
    (work / "raw/a/one.txt").write_bytes(b"my edit")  # its object will change: a conflict
    (work / "raw/a/two.txt").write_bytes(b"my other edit")  # its object will be deleted
    (work / "docs/readme.md").write_bytes(b"# mine\n")  # its object stays: kept as is
    (work / "raw/c").mkdir(parents=True)
    (work / "raw/c/new.txt").write_bytes(b"untracked")  # a new object will land here
    (work / "raw/b/deep/three.bin").unlink()  # deleted locally: restored
    os.utime(work / "raw/a", None)
    _commit(
        session,
        repo,
        {"raw/a/one.txt": b"theirs", "raw/a/two.txt": None, "raw/c/new.txt": b"new"},
        "second",
    )
    before = _files(work)
    with pytest.raises(Conflict) as caught:
        checkout(session, repo, BRANCH, work)
    message = caught.value.message
    assert "3 local change(s)" in message
    assert "raw/a/one.txt: edited locally, and changed in work" in message
    assert "raw/a/two.txt: edited locally, and deleted in work" in message
    assert "raw/c/new.txt: an untracked local file would be overwritten" in message
    assert _files(work) == before, "a refused checkout changes nothing"

    forced = checkout(session, repo, BRANCH, work, force=True)
    assert sorted(forced.overwritten) == ["raw/a/one.txt", "raw/a/two.txt", "raw/c/new.txt"]
    assert forced.kept == ["docs/readme.md"]
    assert forced.restored == ["raw/b/deep/three.bin"]
    assert (work / "raw/a/one.txt").read_bytes() == b"theirs"
    assert (work / "raw/c/new.txt").read_bytes() == b"new"
    assert not (work / "raw/a/two.txt").exists()
    assert (work / "docs/readme.md").read_bytes() == b"# mine\n"
    # a file only touched (same bytes, new mtime) is not an edit
    os.utime(work / "raw/c/new.txt", (1, 1))
    assert checkout(session, repo, BRANCH, work).unchanged >= 3


def test_a_prefix_keeps_full_paths_and_another_repository_is_refused(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    session = embedded.session()
    work = tmp_path / "raw-only"
    report = checkout(session, repo, BRANCH, work, prefix="raw/a/")
    assert sorted(report.added) == ["raw/a/one.txt", "raw/a/two.txt"]
    assert sorted(_files(work)) == ["raw/a/one.txt", "raw/a/two.txt"]
    other = f"{repo}-x"
    create_repository(session, other, embedded.settings.storage_namespace_prefix)
    with pytest.raises(InvalidInput, match=f"is a checkout of '{repo}'"):
        checkout(session, other, "integration", work)
    # the repository is remembered: a re-run needs only the ref
    assert checkout(session, None, BRANCH, work, prefix="raw/a/").unchanged == 2


class _Flaky:
    """The real session, whose downloads fail after ``good`` of them (lakeFS went away)."""

    def __init__(self, session: Session, good: int) -> None:
        self._session = session
        self._left = good

    def download(self, repo: str, ref: str, path: str, target: IO[bytes]) -> int:
        if self._left <= 0:
            raise LakeFSUnreachable("lakeFS went away", status=0, detail="test")
        self._left -= 1
        return self._session.download(repo, ref, path, target)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def test_an_interrupted_checkout_resumes_without_downloading_again(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    session = embedded.session()
    _commit(
        session, repo, {f"raw/many/{n:03d}.txt": f"file {n}".encode() for n in range(40)}, "many"
    )
    work = tmp_path / "copy"
    with pytest.raises(LakeFSUnreachable):
        checkout(_Flaky(session, 25), repo, BRANCH, work, jobs=1)  # type: ignore[arg-type]
    state = read_state(work)
    assert state is not None and state["commit"] is None, "not complete: no commit recorded"
    assert len(state["files"]) == 25
    stray = work / "raw/many" / f".030.txt.{'0' * 32}.part"
    stray.write_bytes(b"half")
    resumed = checkout(session, repo, BRANCH, work)
    assert not stray.exists()
    assert len(resumed.added) == len(_files_at(session, repo, BRANCH)) - 25
    assert resumed.unchanged == 25
    assert _files(work) == _files_at(session, repo, BRANCH)

    # killed before its record was saved: files on disk that hold their object's bytes (its
    # lakeFS checksum, the MD5 of a one-part upload) are adopted, not called local edits
    record = json.loads((work / STATE_FILE).read_text())
    forgotten = sorted(record["files"])[:5]
    for path in forgotten:
        del record["files"][path]
    (work / STATE_FILE).write_text(json.dumps(record))
    adopted = checkout(session, repo, BRANCH, work)
    assert adopted.added == [] and adopted.bytes == 0
    assert set(forgotten) <= set(read_state(work)["files"])  # type: ignore[index]


def test_the_cli_checks_out_reports_json_and_exits_3_on_a_conflict(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    work = tmp_path / "copy"
    done = run_vxp(
        embedded, "checkout", BRANCH, "--repo", repo, "--to", str(work), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["repository"] == repo and "raw/a/one.txt" in body["added"]
    (work / "raw/a/one.txt").write_bytes(b"edit")
    _commit(embedded.session(), repo, {"raw/a/one.txt": b"theirs"}, "second")
    # inside the working copy, the ref is enough
    refused = run_vxp(embedded, "checkout", BRANCH, cwd=work)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "raw/a/one.txt: edited locally" in refused.stderr
    forced = run_vxp(embedded, "checkout", BRANCH, "--force", cwd=work)
    assert forced.returncode == 0, forced.stderr
    assert "overwrote local edit raw/a/one.txt" in forced.stdout
