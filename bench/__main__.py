"""``bench/run [--quick] [--only NAME] [--cold]``: run the benchmarks, print a table, save JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from bench import (
    branching,
    catalog_ops,
    client,
    dicom_headers,
    duckdb_scan,
    hooks,
    import_time,
    ingest,
    ingest_files,
    ingest_trino,
    install,
    lakefs_ops,
    lock,
    materialize,
    merge_tables,
)
from bench.core import Benchmark, Options, Recorder, load_average
from bench.stats import format_ratio, format_value
from vxp.core.home import Home

# in the order they run: the install/up figures first, before the others have warmed anything
_MODULES: tuple[Benchmark, ...] = (
    install,
    lakefs_ops,
    catalog_ops,
    duckdb_scan,
    branching,
    client,
    import_time,
    dicom_headers,
    ingest_files,
    ingest,
    ingest_trino,
    hooks,
    merge_tables,
    lock,
    materialize,
)
BENCHMARKS = {module.NAME: module for module in _MODULES}
RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer operations and a smaller table (minutes)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also measure cold installs (empty caches; builds lakeFS and MinIO, ~5 min each)",
    )
    return parser.parse_args(argv)


def _format_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def _table(recorders: list[Recorder]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="vxp benchmarks", title_justify="left")
    for column in ("benchmark", "case", "n", "p50", "p99", "unit", "ratio", "vs", "note"):
        numeric = column in ("n", "p50", "p99", "ratio")
        table.add_column(column, justify="right" if numeric else "left")
    for recorder in recorders:
        for index, row in enumerate(recorder.rows):
            # the benchmark's name once, at the top of its section
            name = row.benchmark if index == 0 else ""
            if row.summary is None:
                table.add_row(name, row.case, "-", "-", "-", "", "-", "", row.note)
                continue
            table.add_row(
                name,
                row.case,
                str(row.summary.n),
                format_value(row.summary.p50),
                format_value(row.summary.p99),
                row.unit,
                format_ratio(row.ratio),
                row.baseline or "",
                row.note,
            )
        table.add_section()
    return table


def main(argv: list[str]) -> int:
    args = _parse(argv)
    # progress goes to stderr, the results table to stdout
    console = Console(stderr=True)
    out = Console()
    if not out.is_terminal:
        # piped into a file or a report: keep each row on one line
        out = Console(width=200)
    selected = args.only or list(BENCHMARKS)
    started = datetime.now(UTC)
    load_start = load_average()
    out.print(
        f"vxp bench {' '.join(argv)}: {', '.join(selected)} on {os.cpu_count()} cores; "
        f"load average at start {_format_load(load_start)}",
        markup=False,
    )
    workdir = Path(tempfile.mkdtemp(prefix="vxp-bench-"))
    options = Options(
        quick=args.quick,
        cold=args.cold,
        workdir=workdir,
        cache=Home.from_env().cache,
        console=console,
    )
    recorders: list[Recorder] = []
    runs: list[dict[str, object]] = []
    failed = False
    try:
        for name in selected:
            benchmark = BENCHMARKS[name]
            console.rule(benchmark.TITLE)
            recorder = Recorder(name)
            recorders.append(recorder)
            entry: dict[str, object] = {"name": name, "load_start": load_average()}
            began = time.monotonic()
            try:
                benchmark.run(options, recorder)
            except Exception:
                # the other benchmarks still run; rows recorded before the failure are kept
                failed = True
                entry["error"] = traceback.format_exc()
                console.print(f"[red]{name} failed:[/red]\n{entry['error']}")
                recorder.note(f"FAILED: {traceback.format_exc(limit=0).strip()}")
            entry["seconds"] = round(time.monotonic() - began, 1)
            entry["load_end"] = load_average()
            runs.append(entry)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_end = load_average()

    out.print(_table(recorders))
    for recorder in recorders:
        for note in recorder.notes:
            out.print(f"[bold]{recorder.benchmark}[/bold]: {note}", highlight=False)
    out.print(
        "ratio = p50 / p50 of the row named in 'vs', measured in the same run "
        "(for ops/s, above 1x is faster; for times, above 1x is slower)"
    )
    out.print(f"load average at end {_format_load(load_end)}")

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{started.strftime('%Y%m%d-%H%M%S')}.json"
    report = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "argv": argv,
        "quick": args.quick,
        "cold": args.cold,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "load_start": load_start,
            "load_end": load_end,
        },
        "benchmarks": runs,
        "rows": [dataclasses.asdict(row) for recorder in recorders for row in recorder.rows],
        "notes": {recorder.benchmark: recorder.notes for recorder in recorders},
    }
    path.write_text(json.dumps(report, indent=2))
    out.print(f"results written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
