"""i. ``vxp ingest files`` of 10,000 small files vs a plain parallel boto3 upload to lakeFS's S3
gateway; a second run over the same folder vs the first.

Issue 10's goals: the whole ingestion (scan, sha256 and media type of every file, uploads,
commit, resources into ``vxp.resources``, merges) runs at least 0.8x the files/s of a bare
``boto3`` ``put_object`` loop sending the same files to lakeFS's S3 gateway with the same number
of worker threads (uploads only: no commit, no checksums); and a second run over the unchanged
folder takes at most 0.1x the time of the first (it answers "unchanged" and makes no commit).

Files are 4-64 KiB of seeded random bytes (``bench.core.SEED``), 100 per folder. Both sides run
against one embedded stack, each round into a fresh branch (boto3) or repository (vxp), and the
order alternates round by round so neither always finds the files in the page cache first.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.core import SEED, Options, Recorder
from bench.stack import Running, running
from vxp.ingestion.ingest_files import ingest_files
from vxp.ingestion.report import Outcome

NAME = "files"
TITLE = "i. vxp ingest files: 10,000 small files vs a parallel boto3 upload to the S3 gateway"

#: worker threads on both sides
JOBS = 8
SMALLEST, LARGEST = 4 << 10, 64 << 10
PER_FOLDER = 100
BASELINE = "boto3 put_object (S3 gateway)"
FIRST = "vxp ingest files"
SECOND = "second run, unchanged folder"
# issue 10
GOAL_THROUGHPUT = 0.8
GOAL_SECOND = 0.1


def write_files(root: Path, count: int) -> tuple[list[Path], int]:
    """``count`` files of SMALLEST..LARGEST seeded random bytes under ``root``; paths, bytes."""
    rng = random.Random(SEED)
    paths: list[Path] = []
    total = 0
    for n in range(count):
        folder = root / f"d{n // PER_FOLDER:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(SMALLEST, LARGEST)
        path = folder / f"f{n:05d}.bin"
        path.write_bytes(rng.randbytes(size))
        paths.append(path)
        total += size
    return paths, total


def boto3_upload(
    stack: Running, repository: str, branch: str, root: Path, paths: list[Path]
) -> float:
    """Seconds to send every file with ``put_object`` through lakeFS's S3 gateway, JOBS at a
    time, one client (connection pool of JOBS) shared by the threads."""
    import boto3
    from botocore.config import Config

    settings = stack.settings
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.lakefs_endpoint,
        aws_access_key_id=settings.lakefs_access_key_id,
        aws_secret_access_key=settings.lakefs_secret_access_key.reveal(),
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=JOBS),
    )

    def one(path: Path) -> None:
        with path.open("rb") as body:
            s3.put_object(
                Bucket=repository,
                Key=f"{branch}/raw/{path.relative_to(root).as_posix()}",
                Body=body,
            )

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - start


def vxp_ingest(stack: Running, repository: str, root: Path) -> tuple[float, Outcome]:
    """Seconds of one whole ``ingest_files`` run (with JOBS workers) and its outcome."""
    start = time.perf_counter()
    report = ingest_files(
        stack.lakefs,
        stack.settings,
        repository,
        "bench",
        root,
        subject_from=["path:^(d\\d+)/"],
        jobs=JOBS,
    )
    return time.perf_counter() - start, report.outcome


def run(options: Options, recorder: Recorder) -> None:
    count = options.scale(1_000, 10_000)
    rounds = options.scale(1, 2)
    root = options.workdir / "files"
    paths, total = write_files(root, count)
    options.console.print(f"{count:,} files, {total / 1e6:.0f} MB under {root}")
    baseline: list[float] = []
    first: list[float] = []
    second: list[float] = []
    with running(options, "embedded") as stack:
        stack.create_repository("bench-s3")
        for r in range(rounds):
            repository = f"bench-files-{r}"
            stack.create_repository(repository)
            stack.lakefs.create_branch("bench-s3", f"round-{r}", "integration")
            order = ("boto3", "vxp") if r % 2 == 0 else ("vxp", "boto3")
            for side in order:
                if side == "boto3":
                    seconds = boto3_upload(stack, "bench-s3", f"round-{r}", root, paths)
                    baseline.append(count / seconds)
                else:
                    seconds, outcome = vxp_ingest(stack, repository, root)
                    assert outcome is Outcome.LANDED, outcome
                    first.append(seconds)
                options.console.print(f"round {r}: {side} {seconds:.1f} s")
            seconds, outcome = vxp_ingest(stack, repository, root)
            assert outcome is Outcome.UNCHANGED, outcome
            second.append(seconds)
            options.console.print(f"round {r}: second vxp run {seconds:.2f} s")
    recorder.add(BASELINE, baseline, "files/s", count=count * rounds)
    recorder.add(
        FIRST,
        [count / s for s in first],
        "files/s",
        baseline=BASELINE,
        count=count * rounds,
        note=f"goal >= {GOAL_THROUGHPUT}x",
    )
    recorder.add("first run (time)", first, "s")
    recorder.add(SECOND, second, "s", baseline="first run (time)", note=f"goal <= {GOAL_SECOND}x")
    speed = recorder.find(FIRST).ratio
    again = recorder.find(SECOND).ratio
    if speed is None or again is None:
        recorder.note("ratios missing")
        return
    recorder.note(
        f"{count:,} files of 4-64 KiB ({total / 1e6:.0f} MB), {JOBS} workers each side: vxp "
        f"ingest files runs at {speed:.2f}x the files/s of a bare boto3 upload (goal >= "
        f"{GOAL_THROUGHPUT}x: {_verdict(speed >= GOAL_THROUGHPUT)}); the unchanged second run "
        f"takes {again:.3f}x the first (goal <= {GOAL_SECOND}x: {_verdict(again <= GOAL_SECOND)})"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"
