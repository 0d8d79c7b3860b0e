"""The GitHub Actions workflow of ``docs/how-to/ci-ingestion.md``, run against the embedded stack.

The workflow's YAML is read from the how-to itself, so the page cannot drift from what is tested.
Its ``run:`` steps are executed as GitHub executes them (``bash --noprofile --norc -eo pipefail``,
the step's ``env`` with every ``${{ … }}`` expression resolved, ``$GITHUB_OUTPUT``, step ``if:``
conditions, later steps skipped after a failure unless ``always()``), with ``vxp`` the command
of this checkout and the platform configured *only* by the workflow's secrets. What GitHub
provides is stood in for: ``uses:`` steps and the pip install are skipped (the checkout is a
workspace folder, an uploaded artifact is a copied file), and ``gh`` is a stub answering from
files this test writes (the pull request's files, its comments, the workflow runs and their
artifacts).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import Stack
from vxp.domain.repositories import create_repository
from vxp.ingestion.example_study import write_example_study

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOW_TO = ROOT / "docs" / "how-to" / "ci-ingestion.md"

#: GitHub's command line for ``shell: bash``
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
#: run steps that need the network or GitHub itself: pip installs vxp (this checkout's is used)
SKIPPED = {"Install vxp"}
#: the secrets the how-to tells users to set: all a runner needs to reach the platform
SECRETS = (
    "VXP_LAKEFS_ENDPOINT",
    "VXP_LAKEFS_ACCESS_KEY_ID",
    "VXP_LAKEFS_SECRET_ACCESS_KEY",
    "VXP_CATALOG_URI",
)

GH_STUB = r"""#!/bin/bash
# gh as the workflow calls it, answered from the files of $GH_STUB (there is no GitHub here)
set -e
command="$1 $2"; shift 2
case "$command" in
  "pr diff") cat "$GH_STUB/pr-$1.files" ;;
  "pr comment") cp "$3" "$GH_STUB/pr-$1.comment" ;;
  "run list")
    while [ $# -gt 0 ]; do [ "$1" = --commit ] && sha=$2; shift; done
    cat "$GH_STUB/runs-$sha" 2>/dev/null || true ;;
  "run download")
    id=$1; shift
    while [ $# -gt 0 ]; do
      case $1 in --name) name=$2; shift 2 ;; --dir) dir=$2; shift 2 ;; *) shift ;; esac
    done
    [ -d "$GH_STUB/artifacts/$id/$name" ] || { echo "no artifact $name in run $id" >&2; exit 1; }
    mkdir -p "$dir" && cp "$GH_STUB/artifacts/$id/$name/"* "$dir/" ;;
  *) echo "gh stub: unexpected gh $command $*" >&2; exit 2 ;;
esac
"""


def workflow() -> dict[Any, Any]:
    """The one ```yaml block of the how-to, parsed."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", HOW_TO.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, f"{HOW_TO} should hold exactly one yaml block"
    parsed: dict[Any, Any] = yaml.safe_load(blocks[0])
    return parsed


@dataclass
class PullRequest:
    """One pull request of the deliveries repository, as the workflow's expressions see it."""

    number: int
    files: list[str]
    head_sha: str
    merged: bool = False
    action: str = "opened"


@dataclass
class StepResult:
    """One ``run:`` step as it ran: exit code, output, and what it wrote to ``$GITHUB_OUTPUT``."""

    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class JobResult:
    """The ``run:`` steps of one job that ran, by name, in order."""

    steps: dict[str, StepResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every step that ran exited 0."""
        return all(s.returncode == 0 for s in self.steps.values())

    def step(self, name: str) -> StepResult:
        """The step called ``name``; fails the test when it did not run."""
        assert name in self.steps, f"step {name!r} did not run; ran: {list(self.steps)}"
        return self.steps[name]


#: every ``if:`` of the workflow, as a function of (pull request, workspace, step outputs);
#: a condition not listed here fails the test, so a changed workflow cannot go untested
CONDITIONS: dict[str, Callable[[PullRequest, Path, Mapping[str, Mapping[str, str]]], bool]] = {
    "github.event.action != 'closed'": lambda pr, ws, out: pr.action != "closed",
    "github.event.action == 'closed'": lambda pr, ws, out: pr.action == "closed",
    "always() && hashFiles('vxp-summary.json') != ''": (
        lambda pr, ws, out: (ws / "vxp-summary.json").exists()
    ),
    "github.event.pull_request.merged": lambda pr, ws, out: pr.merged,
    "!github.event.pull_request.merged && steps.staged.outputs.run != ''": (
        lambda pr, ws, out: not pr.merged and bool(out.get("staged", {}).get("run"))
    ),
}


class Runner:
    """Runs the jobs of the how-to's workflow for pull requests of one deliveries repository."""

    def __init__(
        self, stack: Stack, repo: str, workspace: Path, tmp: Path, env: dict[str, str]
    ) -> None:
        self.flow = workflow()
        self.repo = repo
        self.workspace = workspace
        self.stub = tmp / "gh"
        (self.stub / "artifacts").mkdir(parents=True)
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        # `vxp` and `python` are this checkout's, as after the workflow's install step
        for name, target in (("vxp", f"{shlex.quote(sys.executable)} -m vxp"),
                             ("python", shlex.quote(sys.executable))):  # fmt: skip
            (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bin_dir / "gh").write_text(GH_STUB)
        for script in bin_dir.iterdir():
            script.chmod(0o755)
        self.env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "GH_STUB": str(self.stub)}
        self.secrets = {name: stack.env[name] for name in SECRETS}
        self.workflow_runs = 0

    def expression(
        self, expr: str, pr: PullRequest, outputs: Mapping[str, Mapping[str, str]]
    ) -> str:
        """The value of one ``${{ expr }}`` of the workflow's ``env`` blocks."""
        values: dict[str, str] = {
            "github.token": "test-token",
            "github.repository": "example/deliveries",
            "github.workflow": str(self.flow["name"]),
            "github.event.pull_request.number": str(pr.number),
            "github.event.pull_request.head.sha": pr.head_sha,
            "vars.VXP_REPO": self.repo,
            "vars.VXP_PIP_SPEC": str(ROOT),
        } | {f"secrets.{name}": value for name, value in self.secrets.items()}
        if expr in values:
            return values[expr]
        step = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+)", expr)
        assert step is not None, f"the test does not know the expression ${{{{ {expr} }}}}"
        return outputs.get(step.group(1), {}).get(step.group(2), "")

    def resolve(
        self, env: Mapping[str, Any], pr: PullRequest, outputs: Mapping[str, Mapping[str, str]]
    ) -> dict[str, str]:
        return {
            name: re.sub(
                r"\$\{\{\s*(.*?)\s*\}\}",
                lambda m: self.expression(m.group(1), pr, outputs),
                str(value),
            )
            for name, value in env.items()
        }

    def run(self, job_id: str, pr: PullRequest) -> JobResult | None:
        """Run job ``job_id`` for ``pr``'s current event; None when its ``if:`` skips it."""
        job = self.flow["jobs"][job_id]
        outputs: dict[str, dict[str, str]] = {}
        if "if" in job and not CONDITIONS[job["if"]](pr, self.workspace, outputs):
            return None
        assert self.flow["defaults"]["run"]["shell"] == "bash"
        self.workflow_runs += 1
        (self.workspace / "vxp-summary.json").unlink(missing_ok=True)
        (self.stub / f"pr-{pr.number}.files").write_text("".join(f"{f}\n" for f in pr.files))
        result = JobResult()
        failed = False
        for index, step in enumerate(job["steps"]):
            condition = step.get("if")
            if condition is not None and condition not in CONDITIONS:
                raise AssertionError(f"the test does not know the condition {condition!r}")
            if failed and "always()" not in (condition or ""):
                continue
            if condition is not None and not CONDITIONS[condition](pr, self.workspace, outputs):
                continue
            if "uses" in step:
                if step["uses"].startswith("actions/upload-artifact@"):
                    self._upload(step["with"], pr)
                continue
            name = step.get("name", f"step {index}")
            if name in SKIPPED:
                continue
            output_file = self.workspace / f".github_output_{index}"
            output_file.write_text("")
            env = self.resolve(
                {**self.flow.get("env", {}), **job.get("env", {}), **step.get("env", {})},
                pr,
                outputs,
            )
            done = subprocess.run(
                [*BASH, step["run"]],
                cwd=self.workspace,
                env={**self.env, **env, "GITHUB_OUTPUT": str(output_file)},
                capture_output=True,
                text=True,
                timeout=600,
            )
            step_outputs = dict(
                line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line
            )
            output_file.unlink()
            if "id" in step:
                outputs[step["id"]] = step_outputs
            result.steps[name] = StepResult(
                name, done.returncode, done.stdout, done.stderr, step_outputs
            )
            failed = failed or done.returncode != 0
        return result

    def _upload(self, options: Mapping[str, str], pr: PullRequest) -> None:
        """``actions/upload-artifact``: the file, kept under this workflow run's id."""
        source = self.workspace / options["path"]
        target = self.stub / "artifacts" / str(self.workflow_runs) / options["name"]
        target.mkdir(parents=True)
        target.joinpath(source.name).write_bytes(source.read_bytes())
        # `gh run list --commit SHA`: newest first
        runs = self.stub / f"runs-{pr.head_sha}"
        earlier = runs.read_text() if runs.exists() else ""
        runs.write_text(f"{self.workflow_runs}\n{earlier}")

    def comment(self, pr: PullRequest) -> str:
        return (self.stub / f"pr-{pr.number}.comment").read_text()


def _delivery_files(workspace: Path, folder: Path) -> list[str]:
    return sorted(str(p.relative_to(workspace)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def runner(
    embedded: Stack, repo_name: str, cli_env: dict[str, str], tmp_path: Path
) -> tuple[Runner, Stack, str, Path]:
    create_repository(embedded.session(), repo_name, embedded.settings.storage_namespace_prefix)
    workspace = tmp_path / "deliveries-repo"
    workspace.mkdir()
    return Runner(embedded, repo_name, workspace, tmp_path, cli_env), embedded, repo_name, workspace


def _heads(stack: Stack, repo: str) -> dict[str, str | None]:
    session = stack.session()
    return {layer: session.branch_head(repo, layer) for layer in ("source", "integration")}


def _open(runner: Runner, number: int, workspace: Path, folder: Path) -> PullRequest:
    return PullRequest(number, _delivery_files(workspace, folder), head_sha=f"{number:040x}")


def _land(runner: Runner, pr: PullRequest) -> tuple[JobResult, dict[str, Any]]:
    pr.action = "opened"
    job = runner.run("land", pr)
    assert job is not None
    step = job.step("Validate and land without merging")
    return job, json.loads(step.stdout)


def _close(runner: Runner, pr: PullRequest, *, merged: bool) -> JobResult:
    pr.action, pr.merged = "closed", merged
    assert runner.run("land", pr) is None, "the land job must not run on a closed pull request"
    job = runner.run("finish", pr)
    assert job is not None
    return job


def _current_rows(stack: Stack, repo: str, table: str) -> int:
    with stack.client(repo) as client:
        count: int = client.query(f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"]  # noqa: S608
    return count


def test_pull_requests_land_merge_replan_and_discard(
    runner: tuple[Runner, Stack, str, Path],
) -> None:
    flow, stack, repo, workspace = runner
    basel = write_example_study(workspace / "deliveries" / "basel", subjects=6, deliveries=4)
    (zurich,) = write_example_study(
        workspace / "deliveries" / "zurich", subjects=4, deliveries=1, trial="zurich"
    )
    empty = _heads(stack, repo)

    # 1: the first delivery lands on its run's branches only; the comment says so
    first = _open(flow, 1, workspace, basel[0])
    job, summary = _land(flow, first)
    assert job.ok, {name: s.stderr for name, s in job.steps.items()}
    assert job.step("Find the delivery").outputs == {
        "dir": "deliveries/basel/delivery-1",
        "source": "basel",
    }
    assert summary["outcome"] == "staged" and summary["errors"] == []
    assert set(summary["branches"]) == {"ingest", "integrate"}
    assert _heads(stack, repo) == empty, "--no-merge changed a layer"
    assert f"staged, run {summary['run']}" in flow.comment(first)
    assert "| basel.dm | 6 | 0 | 0 |" in flow.comment(first)

    # merged: the run found through the kept summary, merged into both layers
    job = _close(flow, first, merged=True)
    assert job.ok, {name: s.stderr for name, s in job.steps.items()}
    assert job.step("Find the run the land job staged").outputs == {"run": summary["run"]}
    assert "merged" in job.step("Merge the run into source and integration").stdout
    landed = _heads(stack, repo)
    assert landed["source"] != empty["source"] and landed["integration"] != empty["integration"]
    assert _current_rows(stack, repo, "basel.dm") == 6

    # 2, 3 and 4 are staged against the same heads; 2 merges first
    second, third = (_open(flow, n, workspace, basel[n - 1]) for n in (2, 3))
    other = _open(flow, 4, workspace, zurich)
    staged = {pr.number: _land(flow, pr)[1]["run"] for pr in (second, third, other)}
    job = _close(flow, second, merged=True)
    assert job.ok and _current_rows(stack, repo, "basel.dm") == 12

    # 3 was planned before 2 merged (same source): `source` refuses it, so it is discarded and
    # ingested again against the new heads
    job = _close(flow, third, merged=True)
    assert job.ok, {name: s.stderr for name, s in job.steps.items()}
    merge = job.step("Merge the run into source and integration")
    assert f"discarded run {staged[3]}" in merge.stdout
    assert json.loads(merge.stdout[merge.stdout.index("{") :])["outcome"] == "landed"
    assert _current_rows(stack, repo, "basel.dm") == 18

    # 4 (another source) conflicts on vxp.resources in `integration` after `source` took it;
    # the fallback completes the integration step of the same run
    job = _close(flow, other, merged=True)
    assert job.ok, {name: s.stderr for name, s in job.steps.items()}
    merged = json.loads((workspace / "vxp-merged.json").read_text(encoding="utf-8"))
    assert merged["outcome"] == "landed" and merged["run"] == staged[4]
    assert _current_rows(stack, repo, "zurich.dm") == 4
    assert _current_rows(stack, repo, "basel.dm") == 18

    # the job again (a re-run on GitHub): the run is gone, the delivery is integrated already
    rerun = flow.run("finish", other)
    assert rerun is not None and rerun.ok
    again = rerun.step("Merge the run into source and integration").stdout
    assert json.loads(again[again.index("{") :])["outcome"] == "unchanged"

    # 5 is closed without merging: its branches are deleted, the layers never see it
    before = _heads(stack, repo)
    fifth = _open(flow, 5, workspace, basel[3])
    run = _land(flow, fifth)[1]["run"]
    assert stack.session().branch_head(repo, f"ingest-basel-{run}") is not None
    job = _close(flow, fifth, merged=False)
    assert job.ok and "Merge the run into source and integration" not in job.steps
    assert f"discarded run {run}" in job.step("Discard the run").stdout
    assert stack.session().branch_head(repo, f"ingest-basel-{run}") is None
    assert _heads(stack, repo) == before
    assert sorted(stack.session().branch_heads(repo)) == ["integration", "source"]


def test_an_invalid_delivery_fails_the_check_and_writes_nothing(
    runner: tuple[Runner, Stack, str, Path],
) -> None:
    flow, stack, repo, workspace = runner
    (folder,) = write_example_study(workspace / "deliveries" / "basel", subjects=4, deliveries=1)
    dm = folder / "dm.csv"
    lines = dm.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[1]  # line 3 repeats line 2's subject
    dm.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = _heads(stack, repo)

    pr = _open(flow, 7, workspace, folder)
    job, summary = _land(flow, pr)
    assert job.step("Validate and land without merging").returncode == 1
    assert summary["outcome"] == "invalid" and summary["run"] is None
    assert {(e["code"], e["file"], e["line"]) for e in summary["errors"]} == {
        ("key.duplicate", "dm.csv", 2),
        ("key.duplicate", "dm.csv", 3),
    }
    # the summary is kept and posted even though the check failed
    assert "**vxp ingest study**: invalid" in flow.comment(pr)
    assert "- error key.duplicate dm.csv:3: The key" in flow.comment(pr)
    assert _heads(stack, repo) == before
    assert sorted(stack.session().branch_heads(repo)) == ["integration", "source"]


def test_a_pull_request_without_one_delivery_folder_is_refused(
    runner: tuple[Runner, Stack, str, Path],
) -> None:
    flow, _, _, workspace = runner
    basel = write_example_study(workspace / "deliveries" / "basel", subjects=2, deliveries=2)
    files = [*_delivery_files(workspace, basel[0]), *_delivery_files(workspace, basel[1])]
    pr = PullRequest(8, files, head_sha="8" * 40)
    job = flow.run("land", pr)
    assert job is not None
    find = job.step("Find the delivery")
    assert find.returncode == 1 and "adds one folder" in find.stdout
    assert list(job.steps) == ["Find the delivery"]
