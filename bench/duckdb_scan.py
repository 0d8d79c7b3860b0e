"""d. DuckDB queries through the vxp catalog (iceberg extension) vs read_parquet of the same files.

The baseline reads exactly the data files of the table's current snapshot (from pyiceberg's scan
plan), so the ratio is the price of going through the catalog: the REST round trips, reading
metadata, manifest list and manifests, and whatever the extension does differently when scanning.
"""

from __future__ import annotations

import math
import time
from functools import partial
from urllib.parse import unquote, urlparse

import duckdb

from bench import data
from bench.core import Options, Recorder, ms, timed
from bench.stack import running
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.engines.common import REF_CATALOG

NAME = "duckdb"
TITLE = "d. DuckDB through the catalog vs read_parquet over the same files"

REPOSITORY = "bench-duckdb"
TABLE = "bench.events"
FILES = 8
SHAPES = {
    "count": "SELECT count(*) FROM {source}",
    "filtered aggregate": "SELECT count(*), sum(value), max(id) FROM {source} WHERE grp < 10",
    "group by": "SELECT cat, count(*), avg(value) FROM {source} GROUP BY cat ORDER BY cat",
}


def same_rows(left: list[tuple[object, ...]], right: list[tuple[object, ...]]) -> bool:
    """Equal results; floats may differ in the last bits (summation order is not fixed)."""
    if len(left) != len(right):
        return False
    for row_a, row_b in zip(left, right, strict=True):
        for a, b in zip(row_a, row_b, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9):
                    return False
            elif a != b:
                return False
    return True


def _query(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return conn.execute(sql).fetchall()


def run(options: Options, recorder: Recorder) -> None:
    rows = options.scale(200_000, 2_000_000)
    runs = options.scale(5, 15)
    with running(options, "embedded") as stack:
        stack.create_repository(REPOSITORY)
        catalog = stack.catalog(f"{REPOSITORY}.{DEFAULT_BRANCH}")
        catalog.create_namespace(TABLE.split(".")[0])
        table = catalog.create_table(TABLE, schema=data.SCHEMA)
        per_file = rows // FILES
        for i in range(FILES):
            # one append per file: the table gets FILES data files, as FILES ingestion runs would
            table.append(data.batch(per_file, first_id=i * per_file))
        paths = [unquote(urlparse(task.file.file_path).path) for task in table.scan().plan_files()]

        connects: list[float] = []
        attaches: list[float] = []
        for _ in range(options.scale(3, 5)):
            start = time.perf_counter()
            conn = stack.duckdb()
            connected = time.perf_counter()
            stack.attach(conn, REPOSITORY, DEFAULT_BRANCH)
            connects.append(connected - start)
            attaches.append(time.perf_counter() - connected)
            conn.close()
        recorder.add("connect (load extensions)", ms(connects), "ms")
        recorder.add("ATTACH the catalog", ms(attaches), "ms")
        conn = stack.duckdb()
        stack.attach(conn, REPOSITORY, DEFAULT_BRANCH)
        sources = {
            "read_parquet": f"read_parquet({[str(p) for p in paths]!r})",
            "catalog": f"{REF_CATALOG}.{TABLE}",
        }
        for shape, template in SHAPES.items():
            sql = {name: template.format(source=source) for name, source in sources.items()}
            # a warm-up run each (file cache, extension state) that also checks both agree
            results = {name: _query(conn, statement) for name, statement in sql.items()}
            if not same_rows(results["read_parquet"], results["catalog"]):
                raise AssertionError(f"{shape}: the catalog and read_parquet disagree: {results}")
            times: dict[str, list[float]] = {name: [] for name in sql}
            for i in range(runs):
                order = list(sql) if i % 2 == 0 else list(reversed(sql))
                for name in order:
                    times[name].append(timed(partial(_query, conn, sql[name])))
            recorder.add(f"{shape} (read_parquet)", ms(times["read_parquet"]), "ms")
            recorder.add(
                f"{shape} (catalog)",
                ms(times["catalog"]),
                "ms",
                baseline=f"{shape} (read_parquet)",
            )
    recorder.note(
        f"{rows:,} rows in {len(paths)} data files; p50 is the median of {runs} runs per shape "
        "after one warm-up; aim: catalog/read_parquet <= 1.3x"
    )
    recorder.note("anchor: duckdb-iceberg issue 419 saw queries through a REST catalog take 9x")
