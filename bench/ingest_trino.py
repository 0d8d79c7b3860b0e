"""m. ``vxp ingest study --engine trino`` vs the in-process engine on the same delivery (issue 9).

The full stack; one generated vital-signs delivery (``bench.ingest_data``: 9 columns of 7 types,
a 4-column key, subject/site/visit entities) and its next delivery with 1% of the results
corrected. Each engine ingests both into a repository of its own, in turn (in-process first,
then Trino, then Trino, then in-process in the full run: noise falls on both). Timed in this
process: the whole ``ingest_study`` (validation excluded, done once) and its integration phase
(surrogate keys, SCD-2 history and current tables, resources, commit: what the engine does).
Ratios are Trino's seconds over the in-process engine's (above 1x: Trino is slower).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.core import Options, Recorder
from bench.ingest import PhaseClock
from bench.ingest_data import rows_for, write_delivery
from bench.stack import Running, running
from vxp.domain.engines import Engine

NAME = "study-trino"
TITLE = "m. vxp ingest study --engine trino vs in-process, same delivery (full stack)"

SOURCE = "bench"
CHANGED = 0.01
DELIVERIES = ("delivery 1", "delivery 2 (1% changed)")


def _ingest(
    stack: Running, repo: str, folder: Path, plan: Any, engine: Engine
) -> tuple[float, float, dict[str, Any]]:
    """One ``ingest_study`` of a validated delivery; its seconds, its integration phase's
    seconds, and the report's changes."""
    from vxp.ingestion.ingest_study import ingest_study

    clock = PhaseClock()
    clock.phase("start")
    start = time.perf_counter()
    report = ingest_study(
        stack.lakefs, stack.settings, repo, SOURCE, plan, engine=engine, progress=clock
    )
    done = time.perf_counter()
    if report.outcome.exit_code != 0:
        raise RuntimeError(f"{engine} ingest of {folder.name}: {report.to_json()}")
    phases = clock.seconds(done)
    changes = {c.table: c.to_json() for c in report.changes if not c.table.startswith("raw_")}
    return done - start, phases.get("integration", 0.0), changes


def run(options: Options, recorder: Recorder) -> None:
    from vxp.ingestion.study import validate_study

    size_mb = options.scale(5, 100)
    data = options.workdir / "study-trino"
    console = options.console
    folders = [
        write_delivery(data / "delivery-1", rows_for(size_mb)),
        write_delivery(data / "delivery-2", rows_for(size_mb), changed=CHANGED, delivery=2),
    ]
    csv_mb = (folders[0] / "vs.csv").stat().st_size / 1e6
    plans = [validate_study(folder) for folder in folders]
    order = (
        [Engine.duckdb, Engine.trino]
        if options.quick
        else [Engine.duckdb, Engine.trino, Engine.trino, Engine.duckdb]
    )
    totals: dict[tuple[Engine, int], list[float]] = {}
    integration: dict[tuple[Engine, int], list[float]] = {}
    seen: dict[Engine, dict[str, Any]] = {}
    with running(options, "full") as stack:
        for round_, engine in enumerate(order):
            repo = f"bench-{engine}-{round_}"
            stack.create_repository(repo)
            for index, (folder, plan) in enumerate(zip(folders, plans, strict=True)):
                console.print(f"{engine}: {DELIVERIES[index]} ({csv_mb:.0f} MB) into {repo}")
                total, step, changes = _ingest(stack, repo, folder, plan, engine)
                # printed at once too: a run stopped later still leaves its figures in the log
                console.print(f"  {engine}: ingest_study {total:.1f} s, integration {step:.1f} s")
                totals.setdefault((engine, index), []).append(total)
                integration.setdefault((engine, index), []).append(step)
                seen.setdefault(engine, {})[DELIVERIES[index]] = changes
            # recorded as soon as both engines have a figure: a later failure keeps them
            _record(recorder, totals, integration, csv_mb)
    if seen.get(Engine.duckdb) != seen.get(Engine.trino):
        recorder.note("the engines reported different changes: " + repr(seen))
    rows = plans[0].datasets[0].rows
    recorder.note(
        f"{rows:,} rows, {csv_mb:.0f} MB per delivery; validation excluded (done once); "
        "integration = keys + SCD-2 + current + resources + commit; both engines reported "
        f"the same changes: {seen.get(Engine.duckdb) == seen.get(Engine.trino)}"
    )


def _record(
    recorder: Recorder,
    totals: dict[tuple[Engine, int], list[float]],
    integration: dict[tuple[Engine, int], list[float]],
    csv_mb: float,
) -> None:
    recorder.rows.clear()
    for index, label in enumerate(DELIVERIES):
        for figures, what in ((totals, "ingest_study"), (integration, "integration step")):
            duck = figures.get((Engine.duckdb, index))
            trino = figures.get((Engine.trino, index))
            if duck:
                recorder.add(f"in-process, {label}, {what}", duck, "s")
            if duck and trino:
                recorder.add(
                    f"trino, {label}, {what}",
                    trino,
                    "s",
                    baseline=f"in-process, {label}, {what}",
                )
        duck = totals.get((Engine.duckdb, index))
        if duck:
            recorder.add(f"in-process, {label}, MB/s", [csv_mb / s for s in duck], "MB/s")
        trino = totals.get((Engine.trino, index))
        if duck and trino:
            recorder.add(
                f"trino, {label}, MB/s",
                [csv_mb / s for s in trino],
                "MB/s",
                baseline=f"in-process, {label}, MB/s",
            )
