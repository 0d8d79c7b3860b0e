"""f. 100 queries through one ``vxp_client.PlatformClient`` vs DuckDB ``read_parquet``.

The issue-6 goal: a client that keeps one DuckDB connection (extensions loaded and the catalog
attached once) costs at most 1.5x what plain DuckDB costs reading the same Parquet data files, over
100 small queries in one process, set-up included. Both sides run in this process and alternate
query by query; both return a ``pyarrow.Table``. For comparison, a few queries are also run the
way the old client ran each one: a new connection, extensions loaded and the catalog attached per
query (``vxp.domain.engines.duckdb.query``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

from bench import data
from bench.core import Options, Recorder, ms, timed
from bench.duckdb_scan import same_rows
from bench.stack import Running, running
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.engines import duckdb as duck

NAME = "client"
TITLE = "f. 100 queries through one PlatformClient vs read_parquet over the same files"

REPOSITORY = "bench-client"
TABLE = "bench.small"
# a small table: the per-query fixed costs (catalog round trips, metadata) dominate, not the scan
ROWS = 10_000
FILES = 2
QUERIES = 100
SHAPES = (
    "SELECT count(*) FROM {source}",
    "SELECT count(*), sum(value), max(id) FROM {source} WHERE grp < 10",
    "SELECT cat, count(*), avg(value) FROM {source} GROUP BY cat ORDER BY cat",
)
CLIENT = "PlatformClient"
# issue 6: 100 queries through one client cost at most this times read_parquet's
GOAL = 1.5
BASELINE = "read_parquet"


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return [tuple(row.values()) for row in table.to_pylist()]


def _arrow(conn: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    # the same result type as PlatformClient.query, so both sides pay the conversion
    return conn.execute(sql).to_arrow_table()


def _create_table(stack: Running) -> list[str]:
    """The small table, written in ``FILES`` appends; the local paths of its data files."""
    stack.create_repository(REPOSITORY)
    catalog = stack.catalog(f"{REPOSITORY}.{DEFAULT_BRANCH}")
    catalog.create_namespace(TABLE.split(".")[0])
    table = catalog.create_table(TABLE, schema=data.SCHEMA)
    per_file = ROWS // FILES
    for i in range(FILES):
        table.append(data.batch(per_file, first_id=i * per_file))
    return [unquote(urlparse(task.file.file_path).path) for task in table.scan().plan_files()]


def _round(stack: Running, paths: list[str]) -> dict[str, dict[str, list[float]]]:
    """One client and one plain connection, opened and then queried ``QUERIES`` times each.

    Returns, per side, the seconds of: ``open`` (the client: resolving its ref to a commit;
    plain DuckDB: ``connect``), ``first`` (the first query; the client's loads the extensions and
    attaches the catalog), ``query`` (every later query) and ``total`` (all of it).
    """
    sources = {BASELINE: f"read_parquet({paths!r})", CLIENT: TABLE}
    times: dict[str, dict[str, list[float]]] = {
        side: {"open": [], "first": [], "query": []} for side in sources
    }
    start = time.perf_counter()
    conn = duckdb.connect()
    times[BASELINE]["open"].append(time.perf_counter() - start)
    start = time.perf_counter()
    client = stack.client(REPOSITORY, DEFAULT_BRANCH)
    times[CLIENT]["open"].append(time.perf_counter() - start)
    try:
        results: dict[str, list[pa.Table]] = {side: [] for side in sources}
        run: dict[str, Callable[[str], pa.Table]] = {
            BASELINE: partial(_arrow, conn),
            CLIENT: client.query,
        }
        for i in range(QUERIES):
            shape = SHAPES[i % len(SHAPES)]
            # alternate which side goes first so drift and caching favour neither
            order = list(sources) if i % 2 == 0 else list(reversed(sources))
            for side in order:
                sql = shape.format(source=sources[side])
                start = time.perf_counter()
                result = run[side](sql)
                times[side]["first" if i == 0 else "query"].append(time.perf_counter() - start)
                if i < len(SHAPES):
                    results[side].append(result)
        for k, shape in enumerate(SHAPES):
            left, right = _rows(results[BASELINE][k]), _rows(results[CLIENT][k])
            if not same_rows(left, right):
                raise AssertionError(f"{shape}: the client and read_parquet disagree")
    finally:
        client.close()
        conn.close()
    for side in sources:
        times[side]["total"] = [sum(sum(values) for values in times[side].values())]
    return times


def run(options: Options, recorder: Recorder) -> None:
    rounds = options.scale(2, 5)
    per_query_old = options.scale(10, 30)
    samples: dict[str, dict[str, list[float]]] = {
        side: {"open": [], "first": [], "query": [], "total": []} for side in (BASELINE, CLIENT)
    }
    with running(options, "embedded") as stack:
        paths = _create_table(stack)
        for _ in range(rounds):
            for side, kinds in _round(stack, paths).items():
                for kind, values in kinds.items():
                    samples[side][kind].extend(values)
        # the old client: a new connection, three extensions and two ATTACHes for every query
        cache = stack.manager.home.cache
        sql = SHAPES[0].format(source=TABLE)
        old_query = partial(duck.query, cache, stack.settings, sql, REPOSITORY, DEFAULT_BRANCH)
        old = [timed(old_query) for _ in range(per_query_old)]

    cases = {
        "open": ("open (client: resolve ref; DuckDB: connect)", "ms"),
        "first": ("first query (client: + extensions, ATTACH)", "ms"),
        "query": (f"query 2..{QUERIES}", "ms"),
        "total": (f"{QUERIES} queries, set-up included", "s"),
    }
    for kind, (label, unit) in cases.items():
        base, mine = samples[BASELINE][kind], samples[CLIENT][kind]
        if unit == "ms":
            base, mine = ms(base), ms(mine)
        recorder.add(f"{label} ({BASELINE})", base, unit)
        recorder.add(
            f"{label} ({CLIENT})",
            mine,
            unit,
            baseline=f"{label} ({BASELINE})",
        )
    recorder.add(
        "query, new connection each (old client)",
        ms(old),
        "ms",
        baseline=f"{cases['query'][0]} ({BASELINE})",
    )
    verdicts = []
    for kind in ("total", "query"):
        row = recorder.find(f"{cases[kind][0]} ({CLIENT})")
        met = row.ratio is not None and row.ratio <= GOAL
        verdicts.append(f"{cases[kind][0]}: {'met' if met else 'NOT met'}")
    recorder.note(
        f"{ROWS:,} rows in {len(paths)} data files; {rounds} rounds of {QUERIES} queries "
        "(count, filtered aggregate, group by in turn), client and read_parquet alternating; "
        f"goal (issue 6) client <= {GOAL}x read_parquet: {'; '.join(verdicts)}"
    )
