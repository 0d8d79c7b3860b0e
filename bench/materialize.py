"""j. ``vxp materialize -m files`` of 10,000 files vs a plain parallel boto3 download of the same
objects from lakeFS's S3 gateway; a second materialization with a warm cache; ``vxp checkout``
of a ref after 1% of its files changed vs a fresh checkout.

Issue 11's goals: materializing (lockfile read and checked, parallel downloads through lakeFS's
API, every sha256 verified, objects put into the content-addressed cache, hardlinked into the
output, the run record and lineage written) runs at least 0.8x the files/s of a bare ``boto3``
``get_object`` loop writing the same objects to files with the same number of worker threads
(no checksums, no cache); a second materialization of the same lockfile with the cache warm
takes at most a tenth of the first (>= 10x faster); and re-running ``vxp checkout`` after 1% of
the ref's files changed takes at most 0.1x the time of a fresh checkout of it.

The objects are 4-64 KiB of seeded random bytes (``bench.core.SEED``), 100 per folder, uploaded
once through the S3 gateway and committed; the lockfile is written here in the lockfile format
(DESIGN.md, "Lockfiles": one ``File`` resource per object, pinned to the commit), so the figures
are those of materializing, not of locking. Both sides run against one embedded stack, the
order alternating round by round; every vxp round starts from an empty cache.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.core import SEED, Options, Recorder
from bench.stack import Running, running
from vxp.datasets.cache import ObjectCache
from vxp.datasets.checkout import checkout
from vxp.datasets.materialize import materialize

NAME = "materialize"
TITLE = (
    "j. vxp materialize -m files: 10,000 files vs a parallel boto3 download; warm cache; "
    "vxp checkout after 1% changed vs fresh"
)

#: worker threads on both sides
JOBS = 8
SMALLEST, LARGEST = 4 << 10, 64 << 10
PER_FOLDER = 100
BRANCH = "bench"
BASELINE = "boto3 get_object (S3 gateway)"
FIRST = "vxp materialize, empty cache"
WARM = "vxp materialize, warm cache"
FRESH = "vxp checkout, fresh"
UPDATE = "vxp checkout, 1% changed"
# issue 11
GOAL_THROUGHPUT = 0.8
GOAL_WARM = 0.1
GOAL_CHECKOUT = 0.1


def _s3(stack: Running) -> Any:
    import boto3
    from botocore.config import Config

    settings = stack.settings
    return boto3.client(
        "s3",
        endpoint_url=settings.lakefs_endpoint,
        aws_access_key_id=settings.lakefs_access_key_id,
        aws_secret_access_key=settings.lakefs_secret_access_key.reveal(),
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=JOBS),
    )


def _objects(count: int, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [
        (
            f"raw/bench/run/d{n // PER_FOLDER:03d}/f{n:05d}.bin",
            rng.randbytes(rng.randint(SMALLEST, LARGEST)),
        )
        for n in range(count)
    ]


def _upload(stack: Running, s3: Any, repository: str, objects: list[tuple[str, bytes]]) -> str:
    def one(item: tuple[str, bytes]) -> None:
        s3.put_object(Bucket=repository, Key=f"{BRANCH}/{item[0]}", Body=item[1])

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        list(pool.map(one, objects))
    return stack.lakefs.commit(repository, BRANCH, f"{len(objects)} objects", {})


def _lockfile(path: Path, repository: str, commit: str, objects: list[tuple[str, bytes]]) -> None:
    with path.open("w") as stream:
        for name, data in sorted(objects):
            row = {
                "attributes": {},
                "commit": commit,
                "files": [
                    {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                ],
                "id": "trial/bench/file/" + name.split("/", 3)[3].replace("/", "%2F"),
                "repository": repository,
                "type": "File",
                "version": 1,
            }
            stream.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")


def boto3_download(s3: Any, repository: str, commit: str, paths: list[str], dest: Path) -> float:
    """Seconds to fetch every object with ``get_object`` at ``commit`` and write it to a file
    under ``dest``, JOBS at a time, one client shared by the threads."""

    def one(path: str) -> None:
        body = s3.get_object(Bucket=repository, Key=f"{commit}/{path}")["Body"].read()
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - start


def vxp_materialize(stack: Running, lockfile: Path, out: Path, cache: ObjectCache) -> float:
    start = time.perf_counter()
    report = materialize(
        [lockfile], ["files"], out, settings=stack.settings, cache=cache, jobs=JOBS
    )
    seconds = time.perf_counter() - start
    assert report.results["files"].files > 0
    return seconds


def run(options: Options, recorder: Recorder) -> None:
    count = options.scale(1_000, 10_000)
    rounds = options.scale(1, 2)
    work = options.workdir / "materialize"
    objects = _objects(count, SEED)
    total = sum(len(data) for _, data in objects)
    baseline: list[float] = []
    first: list[float] = []
    warm: list[float] = []
    fresh: list[float] = []
    update: list[float] = []
    with running(options, "embedded") as stack:
        repository = "bench-materialize"
        stack.create_repository(repository)
        stack.lakefs.create_branch(repository, BRANCH, "integration")
        s3 = _s3(stack)
        commit = _upload(stack, s3, repository, objects)
        lockfile = work / "resources.bench.jsonl"
        work.mkdir(parents=True, exist_ok=True)
        _lockfile(lockfile, repository, commit, objects)
        paths = [name for name, _ in objects]
        options.console.print(f"{count:,} objects, {total / 1e6:.0f} MB at {commit[:12]}")
        for r in range(rounds):
            order = ("boto3", "vxp") if r % 2 == 0 else ("vxp", "boto3")
            for side in order:
                if side == "boto3":
                    dest = work / f"boto3-{r}"
                    seconds = boto3_download(s3, repository, commit, paths, dest)
                    baseline.append(count / seconds)
                    shutil.rmtree(dest)
                else:
                    cache = ObjectCache(work / f"cache-{r}")
                    seconds = vxp_materialize(stack, lockfile, work / f"cold-{r}", cache)
                    first.append(seconds)
                    again = vxp_materialize(stack, lockfile, work / f"warm-{r}", cache)
                    warm.append(again)
                    options.console.print(f"round {r}: warm cache {again:.2f} s")
                    shutil.rmtree(work / f"cold-{r}")
                    shutil.rmtree(work / f"warm-{r}")
                    shutil.rmtree(cache.root)
                options.console.print(f"round {r}: {side} {seconds:.1f} s")

        # checkout: a fresh one of the branch, then 1% of its objects change and it runs again
        changed = max(1, count // 100)
        rng = random.Random(SEED + 1)
        for r in range(rounds):
            copy = work / f"checkout-{r}"
            start = time.perf_counter()
            checkout(stack.lakefs, repository, BRANCH, copy, jobs=JOBS)
            fresh.append(time.perf_counter() - start)
            edits = [
                (name, rng.randbytes(len(data))) for name, data in rng.sample(objects, changed)
            ]
            _upload(stack, s3, repository, edits)
            start = time.perf_counter()
            report = checkout(stack.lakefs, repository, BRANCH, copy, jobs=JOBS)
            update.append(time.perf_counter() - start)
            assert len(report.updated) == changed, (len(report.updated), changed)
            options.console.print(
                f"round {r}: checkout fresh {fresh[-1]:.1f} s, after {changed} changed "
                f"{update[-1]:.2f} s"
            )
            shutil.rmtree(copy)

    recorder.add(BASELINE, baseline, "files/s", count=count * rounds)
    recorder.add(
        FIRST.replace("empty cache", "files/s"),
        [count / s for s in first],
        "files/s",
        baseline=BASELINE,
        count=count * rounds,
        note=f"goal >= {GOAL_THROUGHPUT}x",
    )
    recorder.add(FIRST, first, "s")
    recorder.add(WARM, warm, "s", baseline=FIRST, note=f"goal <= {GOAL_WARM}x (>= 10x faster)")
    recorder.add(FRESH, fresh, "s")
    recorder.add(UPDATE, update, "s", baseline=FRESH, note=f"goal <= {GOAL_CHECKOUT}x")
    speed = recorder.find(FIRST.replace("empty cache", "files/s")).ratio
    warm_ratio = recorder.find(WARM).ratio
    moved = recorder.find(UPDATE).ratio
    if speed is None or warm_ratio is None or moved is None:
        recorder.note("ratios missing")
        return
    recorder.note(
        f"{count:,} files of 4-64 KiB ({total / 1e6:.0f} MB), {JOBS} workers each side: vxp "
        f"materialize -m files runs at {speed:.2f}x the files/s of a bare boto3 download "
        f"(goal >= {GOAL_THROUGHPUT}x: {_verdict(speed >= GOAL_THROUGHPUT)}); with a warm "
        f"cache it takes {warm_ratio:.3f}x the first run (goal <= {GOAL_WARM}x: "
        f"{_verdict(warm_ratio <= GOAL_WARM)}); vxp checkout after {changed} of {count:,} files "
        f"changed takes {moved:.3f}x a fresh checkout (goal <= {GOAL_CHECKOUT}x: "
        f"{_verdict(moved <= GOAL_CHECKOUT)})"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"
