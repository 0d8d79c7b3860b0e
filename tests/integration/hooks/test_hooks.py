"""Hooks against the real stack: every check refuses a real merge and lets a valid one pass,
through vxp's own merge path (``checked_merge``) and through lakeFS's hooks (a plain lakeFS
merge answered 412, explained from the hook run's log); the deleted-actions bypass is refused
by ``checked_merge`` and found by ``vxp audit``. No sleeps: lakeFS's action-run API is polled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from pyiceberg.types import LongType, StringType

from tests.support import Stack, catalog
from vxp.checks.actions import ACTION_FILE, install, read_actions, render
from vxp.checks.base import ChecksFailed
from vxp.checks.client import fetch_actions, fetch_audit
from vxp.checks.merge import checked_merge
from vxp.checks.refusals import explain_refusal
from vxp.core.errors import PreconditionFailed
from vxp.core.settings import Key
from vxp.domain.repositories import create_repository
from vxp.lakefs import LakeFSPreconditionFailed, Session
from vxp.lakefs.actions import list_runs

pytestmark = pytest.mark.integration


def _url(stack: Stack) -> str:
    return stack.env["VXP_HOOKS_URL"]


@pytest.fixture
def repo(embedded: Stack, repo_name: str) -> Iterator[str]:
    """A repository with vxp's hooks installed, as `vxp repo create` makes it."""
    session = embedded.session()
    create_repository(session, repo_name, embedded.settings.storage_namespace_prefix)
    install(session, repo_name, fetch_actions(_url(embedded), embedded.settings))
    yield repo_name
    session.delete_repository(repo_name)


def _work(session: Session, repo: str, source: str, prefix: str = "work") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    session.create_branch(repo, name, source)
    return name


def _merge(stack: Stack, repo: str, source: str, destination: str, **kwargs: object) -> str:
    result = checked_merge(
        stack.session(), repo, source, destination, settings=stack.settings, **kwargs
    )  # type: ignore[arg-type]
    return result.commit_id


def _commit(session: Session, repo: str, branch: str, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        session.upload_object(repo, branch, path, content)
    session.commit(repo, branch, f"write {', '.join(files)}", {})


# --- the server and the actions -------------------------------------------------------------


def test_the_server_is_healthy_and_refuses_anything_but_the_secret(embedded: Stack) -> None:
    assert {row.component: row.health.ok for row in embedded.manager.status()}["hooks"]
    url = _url(embedded) + "/v1/lakefs/webhook"
    assert httpx.post(url, json={}).status_code == 401
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(_url(embedded) + "/v1/actions").status_code == 401
    assert httpx.get(_url(embedded) + "/v1/actions", auth=("AKIA0", "nope")).status_code == 401
    assert httpx.get(_url(embedded) + "/healthz").status_code == 200


def test_install_is_idempotent_and_the_secret_is_not_in_the_repository(
    embedded: Stack, repo: str
) -> None:
    session = embedded.session()
    files = fetch_actions(_url(embedded), embedded.settings)
    assert files == render(_url(embedded))
    for branch in ("source", "integration"):
        assert read_actions(session, repo, branch) == files
    again = install(session, repo, files)
    assert [(i.branch, i.commit_id) for i in again] == [("integration", None), ("source", None)]
    secret = embedded.manager._context("embedded", embedded.manager._state()).secrets
    assert secret["hooks_secret"].encode() not in files[ACTION_FILE]


# --- source immutability --------------------------------------------------------------------


def test_source_accepts_new_raw_files_and_refuses_a_changed_one(embedded: Stack, repo: str) -> None:
    session = embedded.session()
    first = _work(session, repo, "source", "ingest")
    _commit(session, repo, first, {"raw/lab/run1/a.csv": b"id\n1\n"})
    _merge(embedded, repo, first, "source")

    second = _work(session, repo, "source", "ingest")
    _commit(session, repo, second, {"raw/lab/run1/a.csv": b"id\n2\n", "raw/lab/run2/b.csv": b"x"})
    session.delete_object(repo, second, "raw/lab/run1/a.csv")
    session.upload_object(repo, second, "raw/lab/run1/a.csv", b"id\n3\n")
    session.commit(repo, second, "rewrite a delivered file", {})
    before = session.branch_head(repo, "source")
    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, second, "source")
    assert [(p.check, p.subject) for p in refused.value.problems] == [
        ("source-immutability", "object raw/lab/run1/a.csv")
    ]
    assert session.branch_head(repo, "source") == before

    # lakeFS's own hook refuses it too, and the 412 is explained from the hook run's log
    with pytest.raises(LakeFSPreconditionFailed) as hooked:
        session.merge(repo, second, "source", "plain lakeFS merge", {})
    explained = explain_refusal(session, repo, "source", hooked.value)
    assert isinstance(explained, ChecksFailed)
    assert "raw/lab/run1/a.csv" in str(explained)
    assert session.branch_head(repo, "source") == before


def test_only_ingestion_branches_merge_into_source(embedded: Stack, repo: str) -> None:
    session = embedded.session()
    work = _work(session, repo, "source")
    _commit(session, repo, work, {"raw/lab/run9/a.csv": b"id\n1\n"})
    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, work, "source")
    assert [(p.check, p.subject) for p in refused.value.problems] == [
        ("layer-policy", f"branch {work}")
    ]
    # a repository may widen the rule, on source itself (a merge cannot grant itself the right)
    policy = _work(session, repo, "source", "ingest")
    _commit(session, repo, policy, {"_vxp/policy.yaml": b"merge_into_source_from: [work-*]\n"})
    _merge(embedded, repo, policy, "source")
    _merge(embedded, repo, work, "source")


# --- schema compatibility -------------------------------------------------------------------

PATIENTS = pa.schema([("subject_id", pa.string()), ("age", pa.int32()), ("name", pa.string())])


def _patients(stack: Stack, repo: str, branch: str, rows: list[tuple[str, int, str]]) -> None:
    lake = catalog(stack, f"{repo}.{branch}")
    if ("basel",) not in lake.list_namespaces():
        lake.create_namespace("basel")
    data = pa.table(
        {
            "subject_id": [r[0] for r in rows],
            "age": pa.array([r[1] for r in rows], pa.int32()),
            "name": [r[2] for r in rows],
        },
        schema=PATIENTS,
    )
    if lake.table_exists("basel.patients"):
        lake.load_table("basel.patients").overwrite(data)
    else:
        lake.create_table("basel.patients", schema=PATIENTS).append(data)


def test_integration_refuses_a_dropped_or_renamed_column_unless_allowed(
    embedded: Stack, repo: str
) -> None:
    session = embedded.session()
    first = _work(session, repo, "integration")
    _patients(embedded, repo, first, [("S001", 30, "Ann")])
    _merge(embedded, repo, first, "integration")

    widen = _work(session, repo, "integration")
    with catalog(embedded, f"{repo}.{widen}").load_table("basel.patients").update_schema() as u:
        u.update_column("age", field_type=LongType())
        u.add_column("site", StringType())
    _merge(embedded, repo, widen, "integration")

    breaking = _work(session, repo, "integration")
    with catalog(embedded, f"{repo}.{breaking}").load_table("basel.patients").update_schema() as u:
        u.delete_column("name")
        u.rename_column("site", "centre")
    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, breaking, "integration")
    messages = [p.message for p in refused.value.problems]
    assert any("column name (string) is dropped" in m for m in messages), messages
    assert any("column site is renamed to centre" in m for m in messages), messages

    reason = "name moves to the PHI vault (ticket 42)"
    merged = _merge(
        embedded, repo, breaking, "integration", metadata={"vxp.allow-breaking": reason}
    )
    commit = session.get_commit(repo, merged)
    assert commit is not None and commit.metadata["vxp.allow-breaking"] == reason


# --- data contracts -------------------------------------------------------------------------

CONTRACT = b"""
rows: {min: 1}
unique_key: [subject_id]
columns:
  subject_id: {not_null: true, regex: '^S[0-9]{3}$'}
  age: {min: 0, max: 120}
  name: {phi: true}
"""


def test_a_contract_refuses_bad_rows_with_the_offending_values(embedded: Stack, repo: str) -> None:
    session = embedded.session()
    good = _work(session, repo, "integration")
    _patients(embedded, repo, good, [("S001", 30, "Ann"), ("S002", 41, "Bob")])
    _commit(session, repo, good, {"_vxp/contracts/basel.patients.yaml": CONTRACT})
    _merge(embedded, repo, good, "integration")

    bad = _work(session, repo, "integration")
    _patients(embedded, repo, bad, [("S001", 30, "Ann"), ("S001", 130, "Cy"), ("x", -1, "Di")])
    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, bad, "integration")
    by_message = {p.message: p for p in refused.value.problems}
    assert set(by_message) == {
        "1 of 3 rows break subject_id matches '^S[0-9]{3}$'",
        "1 of 3 rows break age >= 0",
        "1 of 3 rows break age <= 120",
        "1 rows break the unique key (subject_id): duplicated or null",
    }
    assert {"subject_id": "S001", "age": 130} in by_message["1 of 3 rows break age <= 120"].rows

    # `vxp contracts check` runs the same contracts at any ref
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env |= {"VXP_HOME": str(embedded.home.root), "VXP_REPO": repo}
    cli = [sys.executable, "-m", "vxp", "contracts", "check"]
    ok = subprocess.run([*cli, "--ref", "integration"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    broken = subprocess.run([*cli, "--ref", bad], env=env, capture_output=True, text=True)
    assert broken.returncode == 1
    assert "age <= 120" in broken.stdout


# --- no PHI downstream ----------------------------------------------------------------------


def test_phi_columns_never_reach_an_app_branch(embedded: Stack, repo: str) -> None:
    session = embedded.session()
    work = _work(session, repo, "integration")
    _patients(embedded, repo, work, [("S001", 30, "Ann")])
    _commit(session, repo, work, {"_vxp/contracts/basel.patients.yaml": CONTRACT})
    _merge(embedded, repo, work, "integration")
    session.create_branch(repo, "app-study", "source")
    install(session, repo, fetch_actions(_url(embedded), embedded.settings), ["app-study"])

    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, "integration", "app-study")
    assert [(p.check, p.subject) for p in refused.value.problems] == [
        ("phi", "table basel.patients")
    ]
    assert "name" in refused.value.problems[0].message

    pseudonymised = _work(session, repo, "integration")
    with (
        catalog(embedded, f"{repo}.{pseudonymised}")
        .load_table("basel.patients")
        .update_schema() as u
    ):
        u.delete_column("name")
    _merge(embedded, repo, pseudonymised, "app-study")


def test_an_app_branch_cannot_start_from_a_commit_with_phi(embedded: Stack, repo: str) -> None:
    """lakeFS runs the pre-create-branch hook of ``app-*`` on the source commit: a branch that
    would start with a PHI column is never created; one made before the mark is found by the
    audit."""
    session = embedded.session()
    work = _work(session, repo, "integration")
    _patients(embedded, repo, work, [("S001", 30, "Ann")])
    _merge(embedded, repo, work, "integration")
    session.create_branch(repo, "app-early", "integration")  # no mark yet: allowed
    marks = _work(session, repo, "integration")
    _commit(session, repo, marks, {"_vxp/contracts/basel.patients.yaml": CONTRACT})
    _merge(embedded, repo, marks, "integration")

    # lakeFS lists the actions of the source ref ("integration") through its 5-7.5 s cache,
    # which the repository's installation may have filled with the empty listing: a branch
    # created in that window is not hooked (the audit finds it), so poll until lakeFS runs it
    created_unhooked = 0
    for attempt in range(100_000):
        try:
            session.create_branch(repo, f"app-study-{attempt}", "integration")
        except LakeFSPreconditionFailed as exc:
            refusal = exc
            break
        session.delete_branch(repo, f"app-study-{attempt}")
        created_unhooked += 1
    assert session.branch_head(repo, f"app-study-{attempt}") is None
    runs = list_runs(session, repo, branch=f"app-study-{attempt}")
    assert [(r.event_type, r.status) for r in runs] == [("pre-create-branch", "failed")]
    # the hook run's output says why: the hooks server's report
    explained = explain_refusal(session, repo, f"app-study-{attempt}", refusal)
    assert isinstance(explained, ChecksFailed), explained
    assert [(p.check, p.subject) for p in explained.problems] == [("phi", "table basel.patients")]
    assert "name" in explained.problems[0].message
    print(f"{created_unhooked} app branches were created before lakeFS's action cache expired")
    # other branches start from anywhere; an app branch from a tree without PHI is fine
    _work(session, repo, "integration")
    session.create_branch(repo, "app-clean", "source")

    found = fetch_audit(_url(embedded), embedded.settings, repo)
    assert [(f.branch, f.kind, f.subject) for f in found.findings] == [
        ("app-early", "phi", "table basel.patients")
    ]
    assert "name" in found.findings[0].message and found.failed
    assert "delete the branch" in found.findings[0].hint


# --- the deleted-actions bypass -------------------------------------------------------------


def test_a_branch_without_actions_is_refused_and_a_bypass_is_audited(
    embedded: Stack, repo: str
) -> None:
    session = embedded.session()
    legit = _work(session, repo, "integration")
    _commit(session, repo, legit, {"docs/readme.txt": b"hello"})
    _merge(embedded, repo, legit, "integration")
    assert fetch_audit(_url(embedded), embedded.settings, repo).bypasses == ()

    sneaky = _work(session, repo, "integration")
    session.delete_object(repo, sneaky, ACTION_FILE)
    _commit(session, repo, sneaky, {"docs/readme.txt": b"changed without checks"})
    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, sneaky, "integration")
    assert refused.value.problems[0].check == "actions"
    # `vxp merge` is that merge path: exit 1, the problem named, nothing merged
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env |= {"VXP_HOME": str(embedded.home.root), "VXP_REPO": repo, "COLUMNS": "200"}
    head = session.branch_head(repo, "integration")
    cli = subprocess.run(
        [sys.executable, "-m", "vxp", "merge", sneaky, "integration"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert (
        "actions check, folder _lakefs_actions/" in cli.stderr
        and "vxp-checks.yaml is missing" in cli.stderr
    ), cli.stderr
    assert session.branch_head(repo, "integration") == head

    # lakeFS reads pre-merge actions from the source: without them it merges unchecked ...
    bypass = session.merge(repo, sneaky, "integration", "bypass", {})
    assert list_runs(session, repo, commit=bypass) == []
    # ... and `vxp audit` finds it, exit code 1
    found = fetch_audit(_url(embedded), embedded.settings, repo)
    assert [b.commit_id for b in found.bypasses] == [bypass]
    run = subprocess.run(
        [sys.executable, "-m", "vxp", "audit", "--repo", repo],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert bypass[:12] in run.stdout
    # each bypass says what happened and how to settle it; the unguarded head is named
    assert "merged from a commit without _lakefs_actions/" in found.bypasses[0].hint
    assert f"--accept {bypass}" in found.bypasses[0].hint
    assert [(f.branch, f.kind) for f in found.findings] == [("integration", "no-actions")]
    assert "vxp hooks install" in run.stdout and "no _lakefs_actions/" in run.stdout

    # a reviewed bypass is accepted with a reason, kept by the hooks server, signed
    not_a_bypass = subprocess.run(
        [sys.executable, "-m", "vxp", "audit", "--accept", head, "--reason", "x"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert not_a_bypass.returncode != 0 and "is not a bypass" in not_a_bypass.stderr
    accepted = subprocess.run(
        [sys.executable, "-m", "vxp", "audit", "--accept", bypass[:12], "--reason", "ok #7"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    install(session, repo, fetch_actions(_url(embedded), embedded.settings), ["integration"])
    settled = fetch_audit(_url(embedded), embedded.settings, repo)
    assert [(b.commit_id, b.accepted_reason) for b in settled.bypasses] == [(bypass, "ok #7")]
    assert not settled.failed and settled.findings == ()
    run = subprocess.run(
        [sys.executable, "-m", "vxp", "audit", "--repo", repo],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "accepted" in run.stdout and "ok #7" in run.stdout


def test_a_validated_merge_leaves_a_record_lakefs_ran_the_hook_for(
    embedded: Stack, repo: str
) -> None:
    session = embedded.session()
    work = _work(session, repo, "integration")
    _commit(session, repo, work, {"docs/a.txt": b"a"})
    merged = _merge(embedded, repo, work, "integration")
    # lakeFS's run of the pre-merge hook for this very commit, read from its action-run API
    runs = list_runs(session, repo, branch="integration")
    assert any(r.commit_id == merged and r.status == "completed" for r in runs), runs
    assert fetch_audit(_url(embedded), embedded.settings, repo).bypasses == ()


def test_lakefs_caches_a_branchs_actions_for_its_commits(embedded: Stack, repo: str) -> None:
    """Measures lakeFS's action cache: a commit on a branch whose action was just installed may
    run without it for up to 7.5 s (5 s + jitter, keyed by the branch name); commits are polled
    through the action-run API, never timed with sleeps."""
    session = embedded.session()
    session.create_branch(repo, "app-cache", "integration")
    session.delete_object(repo, "app-cache", ACTION_FILE)
    session.commit(repo, "app-cache", "no action yet: lakeFS caches the empty listing", {})
    install(session, repo, fetch_actions(_url(embedded), embedded.settings), ["app-cache"])
    installed = time.monotonic()
    unchecked = 0
    for attempt in range(100_000):
        _commit(session, repo, "app-cache", {f"probe/{attempt}": b"x"})
        head = session.branch_head(repo, "app-cache")
        assert head is not None
        if any(r.event_type == "pre-commit" for r in list_runs(session, repo, commit=head)):
            break
        unchecked += 1
    window = time.monotonic() - installed
    print(f"lakeFS ran the new action {window:.2f} s after it was installed ({unchecked} commits)")
    assert window < 7.5 + 5  # lakeFS's 5 s expiry + 2.5 s jitter, and slack for a busy machine
    # the commits made in that window are bypasses, and the audit lists them
    found = {b.commit_id for b in fetch_audit(_url(embedded), embedded.settings, repo).bypasses}
    assert len(found) >= unchecked


def test_hooks_fail_closed_when_the_server_is_down(embedded: Stack, repo: str) -> None:
    session = embedded.session()
    work = _work(session, repo, "integration")
    _commit(session, repo, work, {"docs/a.txt": b"a"})
    manager = embedded.manager
    from vxp.services import process

    state = manager._state()
    handle = state.processes["hooks"]
    process.stop(handle)
    try:
        before = session.branch_head(repo, "integration")
        start = time.monotonic()
        with pytest.raises(PreconditionFailed) as refused:
            _merge(embedded, repo, work, "integration")
        assert time.monotonic() - start < 60
        assert "no answer from the hooks server" in str(refused.value)
        assert session.branch_head(repo, "integration") == before
    finally:
        manager.up("embedded")


@pytest.mark.full
def test_on_the_full_stack_a_contract_refuses_and_a_valid_merge_is_recorded(
    full: Stack, repo_name: str
) -> None:
    """The same path on MinIO, PostgreSQL and the catalog: the hooks server reads tables from S3
    through the catalog, lakeFS reaches it with the secret from its environment."""
    session = full.session()
    create_repository(session, repo_name, full.settings.storage_namespace_prefix)
    install(session, repo_name, fetch_actions(_url(full), full.settings))
    try:
        good = _work(session, repo_name, "integration")
        _patients(full, repo_name, good, [("S001", 30, "Ann")])
        _commit(session, repo_name, good, {"_vxp/contracts/basel.patients.yaml": CONTRACT})
        merged = _merge(full, repo_name, good, "integration")
        runs = list_runs(session, repo_name, commit=merged)
        assert [r.status for r in runs if r.event_type == "pre-merge"] == ["completed"]

        bad = _work(session, repo_name, "integration")
        _patients(full, repo_name, bad, [("S001", 30, "Ann"), ("S002", 150, "Bo")])
        # lakeFS's own hook refuses it, with the offending row in its log
        with pytest.raises(LakeFSPreconditionFailed) as hooked:
            session.merge(repo_name, bad, "integration", "plain lakeFS merge", {})
        explained = explain_refusal(session, repo_name, "integration", hooked.value)
        assert isinstance(explained, ChecksFailed)
        assert [p.rows for p in explained.problems] == [({"subject_id": "S002", "age": 150},)]
        assert fetch_audit(_url(full), full.settings, repo_name).bypasses == ()
    finally:
        session.delete_repository(repo_name)


def test_phi_marked_in_a_delivered_dictionary_never_reaches_an_app_branch(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    """A study ingested into a repository with hooks (its merges into source and integration
    pass the hooks); its dictionary marks ``NAME`` as PHI, so the hooks server refuses the merge
    of integration into an app branch, and ``checked_merge`` reports why."""
    from vxp.ingestion.ingest_study import ingest_study
    from vxp.ingestion.study import validate_study

    folder = tmp_path / "delivery"
    folder.mkdir()
    (folder / "contents.csv").write_text(
        "dataset,variable,label,type,key,phi\n"
        "dm,USUBJID,subject,string,Y,N\ndm,NAME,name,string,N,Y\ndm,AGE,age,long,N,N\n"
    )
    (folder / "dm.csv").write_text("USUBJID,NAME,AGE\nBASEL-001,Ann,30\nBASEL-002,Bob,41\n")
    session = embedded.session()
    session.create_branch(repo, "app-ml", "integration")
    report = ingest_study(
        session, embedded.settings, repo, "basel", validate_study(folder), merge=True
    )
    assert report.commits, report.to_json()
    assert fetch_audit(_url(embedded), embedded.settings, repo).bypasses == ()

    with pytest.raises(ChecksFailed) as refused:
        _merge(embedded, repo, "integration", "app-ml")
    leaks = [p for p in refused.value.problems if p.check == "phi"]
    assert leaks and all("name" in p.message for p in leaks), refused.value.problems
    assert "table basel.dm" in {p.subject for p in leaks}


def test_an_ingestion_run_a_contract_refuses_says_why_and_leaves_integration(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    """A delivery that breaks a contract on an integration table: lakeFS's hook refuses the
    run's merge into integration, and the run fails with the checks' reasons (not a bare 412)."""
    from vxp.ingestion.ingest_study import ingest_study
    from vxp.ingestion.study import validate_study

    def delivery(name: str, rows: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "contents.csv").write_text(
            "dataset,variable,label,type,key\ndm,USUBJID,subject,string,Y\ndm,AGE,age,long,N\n"
        )
        (folder / "dm.csv").write_text("USUBJID,AGE\n" + rows)
        return folder

    session = embedded.session()
    first = validate_study(delivery("1", "BASEL-001,30\n"))
    assert ingest_study(session, embedded.settings, repo, "basel", first, merge=True).commits
    contract = _work(session, repo, "integration")
    _commit(
        session, repo, contract, {"_vxp/contracts/basel.dm.yaml": b"columns:\n  age: {max: 120}\n"}
    )
    _merge(embedded, repo, contract, "integration")

    before = session.branch_head(repo, "integration")
    second = validate_study(delivery("2", "BASEL-001,30\nBASEL-002,150\n"))
    with pytest.raises(ChecksFailed) as refused:
        ingest_study(session, embedded.settings, repo, "basel", second, merge=True)
    offending = ({"usubjid": "BASEL-002", "age": 150, "subject_sk": 2},)
    assert [p.rows for p in refused.value.problems] == [offending], refused.value.problems
    assert "basel.dm" in str(refused.value)
    assert session.branch_head(repo, "integration") == before


def test_vxp_hooks_install_is_idempotent_from_the_cli(embedded: Stack, repo_name: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env |= {"VXP_HOME": str(embedded.home.root), "COLUMNS": "200"}

    def vxp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vxp", *args], env=env, capture_output=True, text=True
        )

    created = vxp("repo", "create", repo_name)
    assert created.returncode == 0, created.stderr
    assert "hooks installed on" in created.stdout
    # a new user's next step, and where tables of their own are written
    assert f"vxp ingest study FOLDER --source SITE --repo {repo_name}" in created.stdout
    assert f"vxp branch create work --repo {repo_name}" in created.stdout
    session = embedded.session()
    try:
        session.create_branch(repo_name, "app-x", "integration")
        session.delete_object(repo_name, "app-x", ACTION_FILE)
        session.commit(repo_name, "app-x", "drop the action", {})
        first = vxp("hooks", "install", "--repo", repo_name)
        assert first.returncode == 0, first.stderr
        assert f"{repo_name}/app-x: installed" in first.stdout
        assert f"{repo_name}/integration: already installed" in first.stdout
        again = vxp("hooks", "install", "--repo", repo_name)
        assert again.stdout.count("already installed") == 3, again.stdout
        # the commit that dropped the action was never validated: the audit says so
        audited = vxp("audit", "--repo", repo_name, "--format", "json")
        assert audited.returncode == 1
        assert "drop the action" in audited.stdout
    finally:
        session.delete_repository(repo_name)


def test_the_hooks_keep_layers_merge_only(embedded: Stack, repo: str) -> None:
    """Table writes aimed straight at integration (the catalog's own merge) and a lakeFS merge
    of a work branch into source are refused by the hooks, unless the repository's policy on the
    layer allows them."""
    from pyiceberg.exceptions import ForbiddenError, RESTError

    session = embedded.session()
    before = session.branch_head(repo, "integration")
    lake = catalog(embedded, f"{repo}.integration")
    with pytest.raises((ForbiddenError, RESTError)) as refused:
        lake.create_namespace("direct")
    # the engine's user reads the checks' reason and the flow to use, not a bare 412
    assert "not written straight into integration" in str(refused.value)
    assert "vxp branch create" in str(refused.value)
    assert session.branch_head(repo, "integration") == before
    runs = [r for r in list_runs(session, repo, branch="integration") if r.status == "failed"]
    assert runs, "lakeFS ran the hook and it refused"

    work = _work(session, repo, "source")
    _commit(session, repo, work, {"raw/x/1/a.csv": b"a"})
    with pytest.raises(LakeFSPreconditionFailed) as hooked:
        session.merge(repo, work, "source", "straight into source", {})
    explained = explain_refusal(session, repo, "source", hooked.value)
    assert "only ingest-* branches merge into source" in str(explained)

    policy = _work(session, repo, "integration")
    _commit(session, repo, policy, {"_vxp/policy.yaml": b"table_writes_on: [integration]\n"})
    _merge(embedded, repo, policy, "integration")
    lake.create_namespace("direct")
    assert ("direct",) in lake.list_namespaces()
