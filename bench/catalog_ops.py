"""c. The vxp Iceberg REST catalog against pyiceberg's SqlCatalog (SQLite) and, if it runs, Nessie.

Every subject gets the same seeded batches, on the same disk, in the same run; single-client
operations alternate between subjects (and which goes first) so machine noise hits both alike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, Transaction

from bench import data, nessie
from bench.core import Options, Recorder, ms, timed
from bench.stack import running

NAME = "catalog"
TITLE = "c. catalog: loadTable, commits, concurrent writers (vxp vs SqlCatalog; Nessie)"

NAMESPACE = "bench"
REPOSITORY = "bench-catalog"
# a small append, as an ingestion run or a streaming micro-batch would commit
BATCH_ROWS = 100
WARMUP = 10
WRITERS = (1, 4, 16)
# a writer losing this many races per commit it owes is livelocked, not slow
MAX_RETRIES_PER_COMMIT = 100


@dataclass(frozen=True)
class Subject:
    label: str
    # a new client each call: concurrent writers must not share one HTTP session or engine
    new_client: Callable[[], Catalog]


def _sql_catalog(uri: str, warehouse: str, **properties: str) -> Catalog:
    return SqlCatalog("sql", uri=uri, warehouse=warehouse, **properties)


def _set_property(table: Table, value: int) -> None:
    # one key, a new value each time: a metadata-only commit that does not grow the properties
    table.transaction().set_properties({"bench.counter": str(value)}).commit_transaction()


def _latencies(options: Options, recorder: Recorder, subjects: list[Subject]) -> None:
    """loadTable, append and set-properties latency per subject; the first is the baseline."""
    loads = options.scale(200, 1000)
    commits = options.scale(50, 200)
    identifier = f"{NAMESPACE}.latency"
    payload = data.batch(BATCH_ROWS)
    clients = [subject.new_client() for subject in subjects]
    tables = []
    for client in clients:
        client.create_namespace_if_not_exists(NAMESPACE)
        table = client.create_table(identifier, schema=data.SCHEMA)
        table.append(payload)
        tables.append(table)
    for _ in range(WARMUP):
        for client in clients:
            client.load_table(identifier)

    samples: dict[str, dict[str, list[float]]] = {s.label: {} for s in subjects}

    def alternate(operation: str, count: int, action: Callable[[int, int], object]) -> None:
        for i in range(count):
            order = range(len(subjects)) if i % 2 == 0 else reversed(range(len(subjects)))
            for k in order:
                elapsed = timed(partial(action, k, i))
                samples[subjects[k].label].setdefault(operation, []).append(elapsed)

    alternate("loadTable", loads, lambda k, _: clients[k].load_table(identifier))
    alternate("append", commits, lambda k, _: tables[k].append(payload))
    alternate("set-properties", commits, lambda k, i: _set_property(tables[k], i))

    base = subjects[0].label
    for operation in ("loadTable", "append", "set-properties"):
        for subject in subjects:
            recorder.add(
                f"{operation} ({subject.label})",
                ms(samples[subject.label][operation]),
                "ms",
                baseline=None if subject.label == base else f"{operation} ({base})",
            )


class _RetryCounter(logging.Filter):
    """Counts pyiceberg's own commit retries and keeps their warnings out of the output.

    pyiceberg re-runs a failed append itself (4 times, with backoff from 100 ms) before it raises
    CommitFailedException; those retries are work lost to contention and belong in the count.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Commit failed due to a concurrent update"):
            with self._lock:
                self.count += 1
            return False
        return True


def _throughput(subject: Subject, writers: int, shared: bool, total: int) -> tuple[int, float, int]:
    """Commits per second of ``writers`` threads appending to one table or a table each.

    Returns (commits, seconds, retries). A lost race is retried by pyiceberg itself, and once it
    gives up (CommitFailedException) the writer reloads the table and appends again, as any Iceberg
    writer must; retries counts both.
    """
    scope = "one" if shared else "many"
    names = [f"{NAMESPACE}.w{writers}_{scope}_{i}" for i in range(1 if shared else writers)]
    admin = subject.new_client()
    for name in names:
        admin.create_table(name, schema=data.SCHEMA)
    per_writer = max(1, total // writers)
    payload = data.batch(BATCH_ROWS)
    tables = [subject.new_client().load_table(names[0 if shared else i]) for i in range(writers)]
    start_line = threading.Barrier(writers + 1, timeout=120)
    retries = [0] * writers

    def write(i: int) -> None:
        table = tables[i]
        start_line.wait()
        done = 0
        while done < per_writer:
            try:
                table.append(payload)
            except CommitFailedException:
                retries[i] += 1
                if retries[i] > MAX_RETRIES_PER_COMMIT * per_writer:
                    raise
                table.refresh()
            else:
                done += 1

    counter = _RetryCounter()
    pyiceberg_log = logging.getLogger(Transaction.__module__)
    pyiceberg_log.addFilter(counter)
    try:
        with ThreadPoolExecutor(max_workers=writers) as pool:
            futures = [pool.submit(write, i) for i in range(writers)]
            start_line.wait()
            start = time.perf_counter()
            for future in futures:
                future.result()
            elapsed = time.perf_counter() - start
    finally:
        pyiceberg_log.removeFilter(counter)
    return per_writer * writers, elapsed, sum(retries) + counter.count


def _concurrency(
    options: Options,
    recorder: Recorder,
    subjects: list[Subject],
    cases: tuple[tuple[int, bool], ...] | None = None,
) -> None:
    """Commits/s of each (writers, one shared table) case; default: every count of WRITERS, on
    one table and on a table each."""
    total = options.scale(32, 96)
    base = subjects[0].label
    chosen = cases or tuple((w, shared) for shared in (True, False) for w in WRITERS)
    for writers, shared in chosen:
        scope = "one table" if shared else "table each"
        for subject in subjects:
            commits, seconds, retries = _throughput(subject, writers, shared, total)
            label = f"appends, {writers:>2} writers, {scope}"
            recorder.add(
                f"{label} ({subject.label})",
                [commits / seconds],
                "ops/s",
                baseline=None if subject.label == base else f"{label} ({base})",
                count=commits,
                note=f"{retries} retries",
            )


def run(options: Options, recorder: Recorder) -> None:
    sql_dir = options.workdir / "sqlcatalog"
    sql_dir.mkdir()
    sql = Subject(
        "SqlCatalog",
        partial(_sql_catalog, f"sqlite:///{sql_dir / 'catalog.db'}", (sql_dir / "wh").as_uri()),
    )
    with running(options, "embedded") as stack:
        stack.create_repository(REPOSITORY)
        vxp = Subject("vxp", partial(stack.catalog, f"{REPOSITORY}.integration"))
        _latencies(options, recorder, [sql, vxp])
        _concurrency(options, recorder, [sql, vxp])
    append = recorder.find("append (vxp)").summary
    assert append is not None
    recorder.note(
        "anchor: pyiceberg appends through Polaris cost ~1.15 s each in DuckLake's published "
        f"benchmark; here a vxp append p50 is {append.p50 / 1000:.3f} s"
    )
    recorder.note(
        "SqlCatalog: pyiceberg's SQL catalog on a SQLite file, warehouse on the same local disk; "
        f"appends are {BATCH_ROWS}-row batches; commits/s writers are threads with a client each"
    )
    _nessie(options, recorder)


def _nessie(options: Options, recorder: Recorder) -> None:
    try:
        with nessie.running(options) as servers:
            sql_dir = options.workdir / "sqlcatalog-s3"
            sql_dir.mkdir()
            sql = Subject(
                "SqlCatalog on MinIO",
                partial(
                    _sql_catalog,
                    f"sqlite:///{sql_dir / 'catalog.db'}",
                    servers.sql_warehouse,
                    **servers.s3,
                ),
            )
            nessie_subject = Subject("Nessie on MinIO", servers.nessie)
            _latencies(options, recorder, [sql, nessie_subject])
            # the throughput goal of issue 7: writers on different tables of one branch
            _concurrency(options, recorder, [sql, nessie_subject], cases=((16, False),))
    except nessie.Unavailable as exc:
        recorder.skip("nessie", str(exc).splitlines()[0])
        recorder.note(f"Nessie {nessie.VERSION} was not measured: {exc}")
        return
    recorder.note(
        f"Nessie {nessie.VERSION} (in-memory version store) accepts only object-store warehouses, "
        "so it and its SqlCatalog baseline write to the same MinIO; compare its ratio, not its ms"
    )
