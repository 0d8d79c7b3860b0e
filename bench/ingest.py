"""l. ``vxp ingest study`` of a generated CSV delivery vs pyarrow reading it and writing Parquet;
peak memory; a second delivery with 1% of the rows changed.

Issue 9's goals:

- throughput: validating and ingesting a >= 1 GB CSV dataset (``validate_study`` then
  ``ingest_study`` on an embedded stack: checksums, upload, raw table, surrogate keys, SCD-2
  history, current table, resources, merges) at >= 0.7x the MB/s of reading the same file with
  pyarrow's streaming CSV reader (types inferred) and writing it to one local Parquet file;
- memory: the peak RSS of ingesting a 2 GB file <= 1 GB (the ingest streams);
- a second delivery of the same size with 1% of rows changed: its time vs the first delivery's,
  and the Parquet files it writes vs the first's (only what changed should be rewritten).

The delivery is one vital-signs dataset (``bench.ingest_data``: 9 columns of 7 types, a 4-column
key, subject/site/visit entities), 100 MB / 200 MB with ``--quick``, 1 GB / 2 GB in full. Every
ingest runs in a child process (``python -m bench.ingest child …``) started by a small wrapper
whose ``getrusage(RUSAGE_CHILDREN)`` is then exactly the ingest's peak RSS; the child times
``validate_study`` and ``ingest_study`` itself (interpreter start-up not counted). The baseline
runs before and after the first delivery (two samples around it). Parquet files written are
counted as the files under the stack's data folder that start with ``PAR1``, before and after.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bench.core import Options, Recorder
from bench.ingest_data import rows_for, write_delivery
from bench.stack import running

NAME = "study"
TITLE = "l. vxp ingest study: a CSV delivery vs pyarrow CSV -> Parquet; RSS; 1% changed re-delivery"

SOURCE = "bench"
BASELINE = "pyarrow CSV -> Parquet"
FIRST = "vxp ingest study, delivery 1"
SECOND = "delivery 2 (1% rows changed)"
CHANGED = 0.01
GOAL_THROUGHPUT = 0.7
GOAL_RSS_MB = 1024

# the wrapper: runs the command, then prints its children's (the command's) peak RSS in KiB
_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps({'maxrss_kib': peak, 'returncode': done.returncode}))\n"
)


def pyarrow_to_parquet(csv_path: Path, out: Path) -> tuple[float, int]:
    """Stream ``csv_path`` through pyarrow's CSV reader into one Parquet file; seconds, rows."""
    start = time.perf_counter()
    rows = 0
    reader = pacsv.open_csv(csv_path, read_options=pacsv.ReadOptions(block_size=1 << 22))
    with pq.ParquetWriter(out, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return time.perf_counter() - start, rows


def parquet_files(root: Path) -> tuple[int, int]:
    """Files under ``root`` that start with Parquet's magic bytes: count and bytes."""
    count = size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                with path.open("rb") as handle:
                    if handle.read(4) != b"PAR1":
                        continue
                size += path.stat().st_size
                count += 1
            except OSError:
                continue
    return count, size


def ingest_in_child(home: Path, cache: Path, repo: str, folder: Path) -> dict[str, Any]:
    """Validate and ingest ``folder`` into ``repo`` in a child process; its figures and peak RSS.

    Raises:
        RuntimeError: the child failed (its output is in the message).
    """
    command = [
        sys.executable,
        "-c",
        _WRAPPER,
        sys.executable,
        "-m",
        "bench.ingest",
        "child",
        str(home),
        str(cache),
        repo,
        str(folder),
    ]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"ingest child failed:\n{done.stdout}\n{done.stderr}")
    figures: dict[str, Any] = json.loads(lines[-2])
    wrapper = json.loads(lines[-1])
    if wrapper["returncode"] != 0:
        raise RuntimeError(f"ingest child failed:\n{done.stdout}\n{done.stderr}")
    figures["maxrss_mb"] = wrapper["maxrss_kib"] / 1024
    return figures


class PhaseClock:
    """A ``Progress`` that only notes when each phase of ``ingest_study`` starts."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, float]] = []
        #: phase name -> peak RSS (MB) of the process when the phase ended
        self.peaks: dict[str, float] = {}

    def phase(
        self, name: str, total: int | None = None, unit: str = "items", items: int | None = None
    ) -> None:
        self._peak()
        self.starts.append((name, time.perf_counter()))

    def _peak(self) -> None:
        if self.starts:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.peaks[self.starts[-1][0]] = peak

    def advance(self, amount: int = 1) -> None:
        return None

    def say(self, message: str) -> None:
        return None

    def seconds(self, end: float) -> dict[str, float]:
        """Phase name -> seconds (a phase lasts until the next starts, the last until ``end``;
        the time before the first phase is ``start``)."""
        out: dict[str, float] = {}
        ends = [t for _, t in self.starts[1:]] + [end]
        for (name, begun), until in zip(self.starts, ends, strict=True):
            out[name] = out.get(name, 0.0) + until - begun
        return out


def child(home: str, cache: str, repo: str, folder: str) -> int:
    """``python -m bench.ingest child HOME CACHE REPO FOLDER``: one timed ingest, JSON out."""
    from vxp.core.home import Home
    from vxp.core.settings import Settings
    from vxp.ingestion.ingest_study import ingest_study
    from vxp.ingestion.study import validate_study
    from vxp.lakefs import LakeFS

    settings = Settings.load(environ={}, home=Home(root=Path(home), cache=Path(cache)))
    with LakeFS(settings.lakefs_endpoint) as pool:
        session = pool.as_user(
            settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal()
        )
        start = time.perf_counter()
        plan = validate_study(Path(folder))
        validated = time.perf_counter()
        validate_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not plan.ok:
            print(json.dumps({"problems": plan.problems.to_json()[:5]}), file=sys.stderr)
            return 1
        clock = PhaseClock()
        clock.phase("start (evolution check, run)")
        report = ingest_study(session, settings, repo, SOURCE, plan, progress=clock)
        done = time.perf_counter()
        clock._peak()
    print(
        json.dumps(
            {
                "validate_s": validated - start,
                "ingest_s": done - validated,
                "total_s": done - start,
                "rows": sum(d.rows for d in plan.datasets),
                "phases_s": clock.seconds(done),
                "peaks_mb": {"validate": validate_peak, **clock.peaks},
                "outcome": str(report.outcome),
                "changes": [c.to_json() for c in report.changes],
            }
        )
    )
    return 0


def run(options: Options, recorder: Recorder) -> None:
    size_mb = options.scale(100, 1000)
    rss_mb = options.scale(200, 2000)
    data = options.workdir / "study"
    console = options.console
    console.print(f"writing deliveries of {size_mb} MB (and {rss_mb} MB for memory)")
    first = write_delivery(data / "delivery-1", rows_for(size_mb))
    second = write_delivery(data / "delivery-2", rows_for(size_mb), changed=CHANGED, delivery=2)
    big = write_delivery(data / "big", rows_for(rss_mb)) if rss_mb != size_mb else first
    csv_mb = (first / "vs.csv").stat().st_size / 1e6
    big_mb = (big / "vs.csv").stat().st_size / 1e6

    baseline_s: list[float] = []
    baseline_rows = 0

    def baseline() -> None:
        nonlocal baseline_rows
        seconds, baseline_rows = pyarrow_to_parquet(first / "vs.csv", data / "baseline.parquet")
        baseline_s.append(seconds)
        (data / "baseline.parquet").unlink()

    with running(options, "embedded") as stack:
        home = stack.manager.home
        stack.create_repository("bench-study")
        baseline()
        files_0 = parquet_files(home.data)
        console.print(f"delivery 1: {csv_mb:.0f} MB")
        one = ingest_in_child(home.root, home.cache, "bench-study", first)
        files_1 = parquet_files(home.data)
        baseline()
        # each figure is recorded as soon as it is measured: a later failure keeps it
        _record_first(recorder, csv_mb, baseline_s, baseline_rows, one)
        console.print(f"delivery 2: {csv_mb:.0f} MB, {CHANGED:.0%} of rows changed")
        two = ingest_in_child(home.root, home.cache, "bench-study", second)
        files_2 = parquet_files(home.data)
        _record_second(recorder, one, two, files_0, files_1, files_2)
        recorder.add(f"peak RSS, ingest of {csv_mb:.0f} MB", [one["maxrss_mb"]], "MB")
        memory_case = f"peak RSS, ingest of {big_mb:.0f} MB"
        if big is not first:
            stack.create_repository("bench-memory")
            console.print(f"memory: {big_mb:.0f} MB into a new repository")
            try:
                memory = ingest_in_child(home.root, home.cache, "bench-memory", big)
            except RuntimeError as error:
                recorder.skip(memory_case, f"failed: {str(error).strip().splitlines()[-1]}")
                raise
            recorder.add(memory_case, [memory["maxrss_mb"]], "MB")
            _note_phases(recorder, f"{big_mb:.0f} MB", memory)
    recorder.note(
        f"{one['rows']:,} rows, {csv_mb:.0f} MB; goals: ingest >= {GOAL_THROUGHPUT}x the "
        f"baseline's MB/s (measured {recorder.find(FIRST).ratio or 0:.2f}x); peak RSS of the "
        f"2 GB ingest <= {GOAL_RSS_MB} MB; delivery 2 rewrites only what changed (it changed "
        f"{_changed(two)})"
    )


def _record_first(
    recorder: Recorder,
    csv_mb: float,
    baseline_s: list[float],
    baseline_rows: int,
    one: dict[str, Any],
) -> None:
    recorder.add(BASELINE, [csv_mb / s for s in baseline_s], "MB/s")
    recorder.add(FIRST, [csv_mb / one["total_s"]], "MB/s", baseline=BASELINE)
    recorder.add(f"{BASELINE}, rows", [baseline_rows / s for s in baseline_s], "rows/s")
    recorder.add(
        f"{FIRST}, rows", [one["rows"] / one["total_s"]], "rows/s", baseline=f"{BASELINE}, rows"
    )
    recorder.add("validate_study", [csv_mb / one["validate_s"]], "MB/s", baseline=BASELINE)
    recorder.add(
        "ingest_study (land + integrate)", [csv_mb / one["ingest_s"]], "MB/s", baseline=BASELINE
    )
    _note_phases(recorder, "delivery 1", one)


def _record_second(
    recorder: Recorder,
    one: dict[str, Any],
    two: dict[str, Any],
    files_0: tuple[int, int],
    files_1: tuple[int, int],
    files_2: tuple[int, int],
) -> None:
    recorder.add(f"{FIRST}, time", [one["total_s"]], "s")
    recorder.add(f"{SECOND}, time", [two["total_s"]], "s", baseline=f"{FIRST}, time")
    recorder.add("Parquet files written, delivery 1", [files_1[0] - files_0[0]], "files")
    recorder.add(
        "Parquet files written, delivery 2",
        [files_2[0] - files_1[0]],
        "files",
        baseline="Parquet files written, delivery 1",
    )
    recorder.add("Parquet MB written, delivery 1", [(files_1[1] - files_0[1]) / 1e6], "MB")
    recorder.add(
        "Parquet MB written, delivery 2",
        [(files_2[1] - files_1[1]) / 1e6],
        "MB",
        baseline="Parquet MB written, delivery 1",
    )
    _note_phases(recorder, "delivery 2", two)


def _note_phases(recorder: Recorder, label: str, figures: dict[str, Any]) -> None:
    phases = ", ".join(f"{name} {seconds:.1f}" for name, seconds in figures["phases_s"].items())
    peaks = ", ".join(f"{name} {mb:.0f}" for name, mb in figures["peaks_mb"].items())
    recorder.note(
        f"{label} seconds: validate {figures['validate_s']:.1f}, {phases}; total "
        f"{figures['total_s']:.1f}; peak RSS (MB) at the end of each: {peaks}"
    )


def _changed(figures: dict[str, Any]) -> str:
    parts = [
        f"{c['table']}: +{c['rows_added']} ~{c['rows_changed']} -{c['rows_deleted']}"
        for c in figures["changes"]
        if not c["table"].startswith("raw_")
    ]
    return "; ".join(parts) or "nothing"


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "child":
        sys.exit(child(*sys.argv[2:]))
    sys.exit("usage: python -m bench.ingest child HOME CACHE REPO FOLDER")
