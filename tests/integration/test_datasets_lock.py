"""``vxp datasets lock`` against the real embedded stack: the example study and its imaging are
ingested once into a repository of this module; recipes are locked at its commits."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Stack
from vxp.core.errors import VxpError
from vxp.datasets.lock import LINEAGE_FILE, LOCK_FILE, lock
from vxp.datasets.recipe import RecipeError
from vxp.datasets.registry import REGISTRY_FILE, load_registry
from vxp.domain.repositories import create_repository
from vxp.ingestion.example_imaging import write_example_imaging
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_files import ingest_files
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import Outcome
from vxp.ingestion.resources import member_checksum
from vxp.ingestion.study.plan import validate_study

pytestmark = pytest.mark.integration

SOURCE = "basel"
SUBJECTS = 12
REGISTRY = Path(__file__).resolve().parents[2] / REGISTRY_FILE

# the seed's template (issue 11), with its `...` filled in: everything of the trial, as dicts
TEMPLATE = '''
import vxp_client

@vxp_client.dataset_compilation_entrypoint()
def all_basel_data(client: vxp_client.PlatformClient) -> dict[str, list[dict]]:
    """Returns all data associated with the Basel trial."""
    r_basel = client.get_resource("trial/basel")
    resources = [{"id": r.id} for r in client.resources(under=r_basel.id)]
    splits = vxp_client.split_by_subject(resources, {"train": 0.8, "test": 0.2}, salt="basel")
    return {"train": [*splits["train"]], "test": [*splits["test"]]}
'''

# the template exactly as the seed wrote it
VERBATIM = '''
import vxp_client

@vxp_client.dataset_compilation_entrypoint()
def all_basel_data(client: vxp_client.PlatformClient) -> dict[str, list[dict]]:
    """Returns all data associated with the Basel trial."""
    r_basel = client.get_resource("trial/basel")
    ...
    return {"train": [...], "test": [...]}
'''


@pytest.fixture(scope="module")
def repo(embedded: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A repository with the example study (first delivery) and its imaging, T1w and T2w."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    session = embedded.session()
    create_repository(session, name, embedded.settings.storage_namespace_prefix)
    root = tmp_path_factory.mktemp("example")
    [delivery] = write_example_study(root / "study", subjects=SUBJECTS, deliveries=1)
    study = ingest_study(session, embedded.settings, name, SOURCE, validate_study(delivery))
    assert study.outcome is Outcome.LANDED, study.to_json()
    write_example_imaging(root / "imaging", subjects=SUBJECTS)
    imaging = ingest_files(session, embedded.settings, name, SOURCE, root / "imaging")
    assert imaging.outcome is Outcome.LANDED, imaging.to_json()
    return name


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A working folder: relative recipe labels and default outputs land in it."""
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def _recipe(folder: Path, code: str, name: str = "recipe.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code))
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_seed_template_locks(embedded: Stack, repo: str, work: Path) -> None:
    recipe = _recipe(work, TEMPLATE)
    result = lock(recipe, settings=embedded.settings, repository=repo)
    assert result.directory == work / "all_basel_data"
    assert sorted(p.name for p in result.directory.iterdir()) == [
        LOCK_FILE,
        LINEAGE_FILE,
        "resources.test.jsonl",
        "resources.train.jsonl",
    ]
    with embedded.client(repo) as client:
        commit = client.commit
        everything = {r.id: r for r in client.resources(under="trial/basel")}
    summary = json.loads((result.directory / LOCK_FILE).read_text())
    assert summary["name"] == "all_basel_data" and summary["version"] is None
    assert summary["recipe"] == {
        "file": "recipe.py",
        "sha256": hashlib.sha256(recipe.read_bytes()).hexdigest(),
        "entrypoint": "all_basel_data",
    }
    assert (summary["repository"], summary["ref"], summary["commit"]) == (
        repo,
        "integration",
        commit,
    )
    assert summary["hash_algorithm"] == "sha256" and summary["vxp_version"]
    assert summary["commit_date"].endswith("Z")
    locked: dict[str, dict[str, Any]] = {}
    for split in ("train", "test"):
        path = result.directory / f"resources.{split}.jsonl"
        data = path.read_bytes()
        assert summary["splits"][split] == {
            "file": path.name,
            "count": data.count(b"\n"),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        lines = _lines(path)
        assert [r["id"] for r in lines] == sorted(r["id"] for r in lines)
        # canonical JSON: what json.dumps with sorted keys and no spaces gives, line by line
        assert data == b"".join(
            json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            + b"\n"
            for r in lines
        )
        locked.update({r["id"]: {**r, "split": split} for r in lines})
    # every resource of the trial, once, as it is at the commit
    assert sorted(locked) == sorted(everything)
    for resource_id, line in locked.items():
        resource = everything[resource_id]
        assert line["type"] == resource.type.value
        assert line["version"] == resource.version
        assert line["attributes"] == dict(resource.attributes)
        assert (line["repository"], line["commit"]) == (repo, commit)
        assert [f["path"] for f in line["files"]] == list(resource.paths)
    # a subject's resources are in one split
    subject = f"trial/{SOURCE}/subject/BASEL-001"
    splits = {v["split"] for k, v in locked.items() if k.startswith(subject + "/")}
    assert splits == {locked[subject]["split"]}


def test_the_verbatim_template_says_to_fill_it_in(embedded: Stack, repo: str, work: Path) -> None:
    with pytest.raises(RecipeError) as caught:
        lock(_recipe(work, VERBATIM), settings=embedded.settings, repository=repo)
    assert caught.value.problems == [
        "split 'train', item 0: is `...`: fill in the template with the resources to select",
        "split 'test', item 0: is `...`: fill in the template with the resources to select",
    ]
    assert list(work.iterdir()) == [work / "recipe.py"]


def test_locking_again_at_the_same_commit_gives_the_same_bytes(
    embedded: Stack, repo: str, work: Path
) -> None:
    recipe = _recipe(work, TEMPLATE)
    with embedded.client(repo) as client:
        commit = client.commit
    first = lock(recipe, settings=embedded.settings, repository=repo, ref=commit, output=work / "a")
    second = lock(
        recipe, settings=embedded.settings, repository=repo, ref=commit, output=work / "b"
    )
    for name in (LOCK_FILE, "resources.train.jsonl", "resources.test.jsonl"):
        assert (first.directory / name).read_bytes() == (second.directory / name).read_bytes()
    # the same folder again: replaced, still the same bytes
    before = (first.directory / LOCK_FILE).read_bytes()
    again = lock(recipe, settings=embedded.settings, repository=repo, ref=commit, output=work / "a")
    assert (again.directory / LOCK_FILE).read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == ["a", "b", "recipe.py"]


def test_the_series_files_are_their_instances_with_their_bytes_sha256(
    embedded: Stack, repo: str, work: Path
) -> None:
    entry = load_registry(REGISTRY).get("basel-t2-clinical")
    result = lock(
        entry.path,
        settings=embedded.settings,
        repository=repo,
        name=entry.name,
        version=entry.version,
        recipe_label=entry.script_location,
    )
    assert result.directory == work / "basel-t2-clinical-v1"
    lines = [
        line
        for split in ("train", "test")
        for line in _lines(result.directory / f"resources.{split}.jsonl")
    ]
    series = [line for line in lines if line["type"] == "DICOMSeries"]
    subjects = [line for line in lines if line["type"] == "Subject"]
    # every subject has imaging: one T2w series each, and the subject with its clinical data
    assert len(series) == SUBJECTS and len(subjects) == SUBJECTS
    assert all(s["attributes"]["series_description"] == "T2w_SPACE" for s in series)
    assert all("dm.age" in s["attributes"] and s["files"] == [] for s in subjects)
    with embedded.client(repo) as client:
        t2 = client.query(
            "SELECT id, checksum FROM basel.dicom_series WHERE series_description = 'T2w_SPACE'"
        ).to_pylist()
        assert sorted(s["id"] for s in series) == sorted(r["id"] for r in t2)
        one = series[0]
        for file in one["files"]:
            data = client.open(file["path"])
            assert (file["sha256"], file["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    checksums = {r["id"]: r["checksum"] for r in t2}
    assert member_checksum(f["sha256"] for f in one["files"]) == checksums[one["id"]]
    assert len(one["files"]) == one["attributes"]["number_of_instances"]

    # lineage: the resources at the commit and the manifest read in, the split files out
    events = [json.loads(x) for x in (result.directory / LINEAGE_FILE).read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    complete = events[1]
    assert complete["job"]["name"] == "datasets-lock.basel-t2-clinical"
    inputs = {i["name"]: i["facets"]["version"]["datasetVersion"] for i in complete["inputs"]}
    assert inputs["vxp.resources"] == result.commit
    [manifest] = [name for name in inputs if name.endswith("/_manifest.json")]
    with embedded.client(repo, result.commit) as client:
        assert inputs[manifest] == hashlib.sha256(client.open(manifest)).hexdigest()
    outputs = {
        o["name"]: o["outputFacets"]["outputStatistics"]["rowCount"] for o in complete["outputs"]
    }
    assert outputs == {str(result.directory / s.file): s.count for s in result.splits}


def test_every_registered_recipe_locks_against_the_example_study(
    embedded: Stack, repo: str, work: Path
) -> None:
    registry = load_registry(REGISTRY)
    for entry in registry:
        result = lock(
            entry.path,
            settings=embedded.settings,
            repository=repo,
            name=entry.name,
            version=entry.version,
            recipe_label=entry.script_location,
            output=work / entry.spec,
        )
        summary = json.loads((result.directory / LOCK_FILE).read_text())
        assert (summary["name"], summary["version"]) == (entry.name, entry.version)
        assert summary["recipe"]["file"] == entry.script_location
        assert summary["recipe"]["sha256"] == entry.sha256()
        assert sum(s.count for s in result.splits) > 0, entry.spec
        assert summary["leakage"] == {"allowed": False, "subjects": {}, "resources": {}}
    # the SQL cohort is exactly the subjects over 50 of basel.dm, with their visits
    over50 = work / registry.get("basel-over-50").spec
    ids = [
        line["id"]
        for split in ("train", "test")
        for line in _lines(over50 / f"resources.{split}.jsonl")
    ]
    with embedded.client(repo) as client:
        expected = {
            f"trial/{SOURCE}/subject/{r['usubjid']}"
            for r in client.query("SELECT usubjid FROM basel.dm WHERE age > 50").to_pylist()
        }
    assert expected and {i for i in ids if "/visit/" not in i} == expected
    assert {i.split("/visit/")[0] for i in ids} == expected


FAILING = {
    "unknown ids": (
        """
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            return {"train": [{"id": "trial/basel/subject/NOBODY"}, {"id": "trial/basel"}],
                    "test": [{"id": "trial/basel/subject/GHOST/visit/1"}]}
        """,
        [
            "resource trial/basel/subject/GHOST/visit/1 does not exist at commit",
            "resource trial/basel/subject/NOBODY does not exist at commit",
        ],
    ),
    "a recipe that raises": (
        """
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            subjects = client.resources(type="Subject")
            return {"train": [subjects[1000]]}
        """,
        ["recipe.py", "line 7, in recipe", "IndexError: list index out of range"],
    ),
    "the wrong shape": (
        """
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            return [r.id for r in client.resources(type="Subject")]
        """,
        ["returned a list, not a dict of splits"],
    ),
    "leakage": (
        """
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            return {"train": [client.get_resource("trial/basel/subject/BASEL-001")],
                    "test": client.resources(type="Visit", under="trial/basel/subject/BASEL-001")}
        """,
        ["subject trial/basel/subject/BASEL-001 is in splits test, train"],
    ),
    "sys.exit": (
        """
        import sys
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            sys.exit(3)
        """,
        ["called sys.exit(3)"],
    ),
    "a crash": (
        """
        import os
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            os._exit(9)
        """,
        ["ended its process (exit code 9) before it returned"],
    ),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_failing_recipe_writes_nothing(embedded: Stack, repo: str, work: Path, case: str) -> None:
    code, expected = FAILING[case]
    recipe = _recipe(work, code)
    with pytest.raises(RecipeError) as caught:
        lock(recipe, settings=embedded.settings, repository=repo, output=work / "out")
    message = str(caught.value)
    for text in expected:
        assert text in message, message
    # each problem is listed once
    for problem in caught.value.problems:
        assert message.count(f"  - {problem}\n") + message.endswith(f"  - {problem}") == 1
    # nothing written: no lock folder, no temporary folder left behind
    assert sorted(p.name for p in work.iterdir()) == ["recipe.py"]


def test_a_recipe_that_runs_too_long_is_stopped(embedded: Stack, repo: str, work: Path) -> None:
    recipe = _recipe(
        work,
        """
        import subprocess, sys, threading
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            # a process of its own too: stopping the recipe stops it
            with open("child.pid", "w") as pid:
                pid.write(str(subprocess.Popen([sys.executable, "-c", "input()"],
                                               stdin=subprocess.PIPE).pid))
            threading.Event().wait()
        """,
    )
    with pytest.raises(RecipeError, match=r"ran longer than the 8 s allowed and was stopped"):
        lock(recipe, settings=embedded.settings, repository=repo, timeout=8)
    assert sorted(p.name for p in work.iterdir()) == ["child.pid", "recipe.py"]
    assert not _alive(int((work / "child.pid").read_text()))


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped by init, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_an_allowed_leak_is_recorded_and_check_finds_leaks_across_locks(
    embedded: Stack, repo: str, work: Path, cli_env: dict[str, str]
) -> None:
    leaky = _recipe(
        work,
        """
        import vxp_client

        @vxp_client.dataset_compilation_entrypoint()
        def recipe(client):
            subject = "trial/basel/subject/BASEL-001"
            return {"train": [client.get_resource(subject)],
                    "test": client.children(subject)}
        """,
    )
    result = lock(
        leaky, settings=embedded.settings, repository=repo, allow_leakage=True, output=work / "l"
    )
    assert result.leakage == {
        "allowed": True,
        "subjects": {"trial/basel/subject/BASEL-001": ["test", "train"]},
        "resources": {},
    }
    template = lock(
        _recipe(work, TEMPLATE, "template.py"),
        settings=embedded.settings,
        repository=repo,
        output=work / "t",
    )
    env = {**cli_env, "VXP_HOME": str(embedded.home.root)}
    vxp = [sys.executable, "-m", "vxp", "datasets", "check"]
    within = subprocess.run([*vxp, "l"], env=env, cwd=work, capture_output=True, text=True)
    assert within.returncode == 1, within.stderr
    assert "subject trial/basel/subject/BASEL-001 is in splits test, train" in within.stdout
    assert "Traceback" not in within.stderr
    clean = subprocess.run([*vxp, "t"], env=env, cwd=work, capture_output=True, text=True)
    assert clean.returncode == 0 and "no subject leaks" in clean.stdout
    # the template's BASEL-001 is in one split; the leaky lock has it in both
    template_split = next(s.name for s in template.splits if _has(work / "t", s.file))
    across = subprocess.run(
        [*vxp, "l", "t", "--format", "json"], env=env, cwd=work, capture_output=True, text=True
    )
    assert across.returncode == 1, across.stderr
    assert json.loads(across.stdout) == [
        {
            "subject": "trial/basel/subject/BASEL-001",
            "a": ["test", "train"],
            "b": [template_split],
        }
    ]


def _has(folder: Path, file: str) -> bool:
    return any(line["id"] == "trial/basel/subject/BASEL-001" for line in _lines(folder / file))


def test_the_cli_locks_a_registered_recipe_and_fails_cleanly(
    embedded: Stack, repo: str, work: Path, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "VXP_HOME": str(embedded.home.root), "VXP_REGISTRY": str(REGISTRY)}
    vxp = [sys.executable, "-m", "vxp", "datasets"]
    listed = subprocess.run(
        [*vxp, "list", "--format", "json"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert {e["name"] for e in json.loads(listed.stdout)} >= {"basel-t2-clinical", "basel-over-50"}
    done = subprocess.run(
        [*vxp, "lock", "basel-over-50@1", "--repo", repo, "--format", "json"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["directory"] == str(work / "basel-over-50-v1")
    assert summary["recipe"]["file"] == "basel_over_50.py"
    assert json.loads((work / "basel-over-50-v1" / LOCK_FILE).read_text()) == {
        k: v for k, v in summary.items() if k != "directory"
    }
    broken = _recipe(work, FAILING["unknown ids"][0], "broken.py")
    failed = subprocess.run(
        [*vxp, "lock", "--file", str(broken), "--repo", repo, "-o", "nope"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    assert "does not exist at commit" in failed.stderr and "Traceback" not in failed.stderr
    assert not (work / "nope").exists()
    missing = subprocess.run(
        [*vxp, "lock", "no-such-dataset", "--repo", repo], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "no dataset 'no-such-dataset'" in missing.stderr


def test_an_unknown_ref_is_a_clear_error_before_any_recipe_runs(
    embedded: Stack, repo: str, work: Path
) -> None:
    with pytest.raises(VxpError, match="ref 'nope' does not exist"):
        lock(_recipe(work, TEMPLATE), settings=embedded.settings, repository=repo, ref="nope")
    assert sorted(p.name for p in work.iterdir()) == ["recipe.py"]
