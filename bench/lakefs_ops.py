"""b. lakeFS branch creation and commit latency through vxp's lakeFS gateway: embedded vs full.

Embedded keeps lakeFS's KV store and blocks on local disk; full puts the KV store in PostgreSQL
and the blocks in MinIO, so the ratio full/embedded is the cost of the team deployment's storage.
"""

from __future__ import annotations

import random
from functools import partial

from bench.core import SEED, Options, Recorder, ms, timed
from bench.stack import Running, running
from vxp.core.names import DEFAULT_BRANCH

NAME = "lakefs"
TITLE = "b. lakeFS branch creation and commit latency (embedded vs full)"

REPOSITORY = "bench-lakefs"
# unprotected: the layer branches accept merges only, and this measures plain commits
WORK_BRANCH = "bench-commits"
WARMUP = 20
OBJECT_BYTES = 1024


def _measure(stack: Running, branches: int, commits: int) -> dict[str, list[float]]:
    stack.create_repository(REPOSITORY)
    lakefs = stack.lakefs

    def create(name: str) -> None:
        lakefs.create_branch(REPOSITORY, name, DEFAULT_BRANCH)

    for i in range(WARMUP):
        create(f"warmup-{i}")
    creates = [timed(partial(create, f"bench-{i}")) for i in range(branches)]

    create(WORK_BRANCH)
    rng = random.Random(SEED)
    uploads: list[float] = []
    commit_times: list[float] = []
    for i in range(WARMUP + commits):
        # the gateway uploads from bytes in memory (no temporary file)
        upload = partial(
            lakefs.upload_object,
            REPOSITORY,
            WORK_BRANCH,
            f"objects/{i:05d}",
            rng.randbytes(OBJECT_BYTES),
        )
        commit = partial(lakefs.commit, REPOSITORY, WORK_BRANCH, f"object {i}", {})
        upload_time, commit_time = timed(upload), timed(commit)
        if i >= WARMUP:
            uploads.append(upload_time)
            commit_times.append(commit_time)
    return {"branch create": creates, "commit": commit_times, "upload (1 KiB)": uploads}


def run(options: Options, recorder: Recorder) -> None:
    branches = options.scale(200, 2000)
    commits = options.scale(50, 500)
    results: dict[str, dict[str, list[float]]] = {}
    for stack_name in ("embedded", "full"):
        with running(options, stack_name) as stack:
            results[stack_name] = _measure(stack, branches, commits)
    for operation in results["embedded"]:
        recorder.add(f"{operation} (embedded)", ms(results["embedded"][operation]), "ms")
        recorder.add(
            f"{operation} (full)",
            ms(results["full"][operation]),
            "ms",
            baseline=f"{operation} (embedded)",
        )
    measured = []
    for stack_name in ("embedded", "full"):
        summary = recorder.find(f"branch create ({stack_name})").summary
        assert summary is not None
        measured.append(f"{stack_name} {summary.p50:.1f} ms")
    recorder.note(
        "anchor: lakeFS's sizing guide reports branch creation p50 < 15 ms; "
        f"here p50 {', '.join(measured)}"
    )
    recorder.note(
        f"commits: one {OBJECT_BYTES}-byte object uploaded, then committed (only the commit call "
        f"is in the commit row); {WARMUP} warm-up operations of each kind are not counted"
    )
