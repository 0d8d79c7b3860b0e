"""c. The vxp Iceberg REST catalog against pyiceberg's SqlCatalog (SQLite) and, if it runs, Nessie.

Every subject gets the same seeded batches, on the same disk, in the same run; single-client
operations alternate between subjects (and which goes first) so machine noise hits both alike.
First the embedded stack against SqlCatalog on local disk; then, for issue 7's goals, the vxp
catalog of a full stack against Nessie and SqlCatalog, all three on that stack's MinIO.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import pyiceberg
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table, Transaction

from bench import data, nessie
from bench.core import Options, Recorder, ms, timed
from bench.stack import running
from vxp.core.settings import Key
from vxp.services.minio import WAREHOUSE_BUCKET

NAME = "catalog"
TITLE = "c. catalog: loadTable, commits, concurrent writers (vxp vs SqlCatalog; full vs Nessie)"

NAMESPACE = "bench"
REPOSITORY = "bench-catalog"
# a small append, as an ingestion run or a streaming micro-batch would commit
BATCH_ROWS = 100
WARMUP = 10
WRITERS = (1, 4, 16)
SQL_ON_MINIO = "SqlCatalog on MinIO"
NESSIE = "Nessie on MinIO"
NESSIE_PG = "Nessie on MinIO + PostgreSQL"
VXP_FULL = "vxp, full stack (MinIO)"
# a writer losing this many races per commit it owes is livelocked, not slow
MAX_RETRIES_PER_COMMIT = 100
FRESH_APPEND = "append to a new table"


@dataclass(frozen=True)
class Subject:
    label: str
    # a new client each call: concurrent writers must not share one HTTP session or engine
    new_client: Callable[[], Catalog]
    # labels of the subjects this one is compared with: the first is the row's baseline, every
    # one gets its p50 (and for latencies p99) ratio in the note; empty: the first subject
    vs: tuple[str, ...] = ()


def _record(
    recorder: Recorder,
    label: str,
    subject: Subject,
    base: str,
    values: list[float],
    unit: str,
    *,
    count: int | None = None,
    note: str = "",
) -> None:
    """Add ``"<label> (<subject>)"`` with its baseline row, and ratios to the others in the note."""
    if subject.label == base:
        recorder.add(f"{label} ({subject.label})", values, unit, count=count, note=note)
        return
    others = subject.vs or (base,)
    row = recorder.add(
        f"{label} ({subject.label})",
        values,
        unit,
        baseline=f"{label} ({others[0]})",
        count=count,
        note=note,
    )
    summary = row.summary
    assert summary is not None
    ratios = []
    # a throughput has no p99 of its own: only the comparisons the ratio column does not show
    for other in others if unit == "ms" else others[1:]:
        theirs = recorder.find(f"{label} ({other})").summary
        if theirs is None:
            continue
        text = f"p50 {summary.p50 / theirs.p50:.2f}x"
        if unit == "ms":
            text += f", p99 {summary.p99 / theirs.p99:.2f}x"
        ratios.append(f"vs {other}: {text}")
    if ratios:
        extra = "; ".join(ratios)
        recorder.rows[-1] = replace(row, note=f"{note}; {extra}" if note else extra)


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
    history = {s.label: len(t.metadata.snapshots) for s, t in zip(subjects, tables, strict=True)}

    # the same append, to a table created just before (not timed): every subject's metadata then
    # holds one snapshot, as Nessie's always does
    def fresh_append(k: int, i: int) -> Callable[[], object]:
        table = clients[k].create_table(f"{NAMESPACE}.fresh_{i}", schema=data.SCHEMA)
        # each new table handle brings a new FileIO, whose S3 client starts on first use: start
        # it here, as any table in use has (not the catalog's cost)
        table.io.new_input(table.metadata_location).exists()
        return partial(table.append, payload)

    for i in range(commits):
        order = range(len(subjects)) if i % 2 == 0 else reversed(range(len(subjects)))
        for k in order:
            elapsed = timed(fresh_append(k, i))
            samples[subjects[k].label].setdefault(FRESH_APPEND, []).append(elapsed)

    base = subjects[0].label
    for operation in ("loadTable", "append", FRESH_APPEND, "set-properties"):
        for subject in subjects:
            _record(recorder, operation, subject, base, ms(samples[subject.label][operation]), "ms")
    recorder.note(
        "snapshots in each table's metadata after the appends: "
        + ", ".join(f"{label} {count}" for label, count in history.items())
        + f" (pyiceberg {pyiceberg.__version__} copies the whole metadata 18 times per append, "
        f"so its append time grows with them); '{FRESH_APPEND}' appends to a table created just "
        "before (not timed), so every subject's metadata holds one snapshot"
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


def _throughput(
    subject: Subject, writers: int, shared: bool, total: int, round_: int = 0
) -> tuple[int, float, int]:
    """Commits per second of ``writers`` threads appending to one table or a table each (new
    tables for each ``round_``).

    Returns (commits, seconds, retries). A lost race is retried by pyiceberg itself, and once it
    gives up (CommitFailedException) the writer reloads the table and appends again, as any Iceberg
    writer must; retries counts both.
    """
    scope = "one" if shared else "many"
    names = [
        f"{NAMESPACE}.w{writers}_{scope}_r{round_}_{i}" for i in range(1 if shared else writers)
    ]
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
    rounds: int = 1,
) -> None:
    """Commits/s of each (writers, one shared table) case; default: every count of WRITERS, on
    one table and on a table each. With several ``rounds`` the subjects take turns (the order
    alternating) and a row's p50 is the median round."""
    total = options.scale(32, 96)
    base = subjects[0].label
    chosen = cases or tuple((w, shared) for shared in (True, False) for w in WRITERS)
    for writers, shared in chosen:
        scope = "one table" if shared else "table each"
        rates: dict[str, list[float]] = {subject.label: [] for subject in subjects}
        retried = dict.fromkeys(rates, 0)
        done = dict.fromkeys(rates, 0)
        for round_ in range(rounds):
            order = subjects if round_ % 2 == 0 else list(reversed(subjects))
            for subject in order:
                commits, seconds, retries = _throughput(subject, writers, shared, total, round_)
                rates[subject.label].append(commits / seconds)
                retried[subject.label] += retries
                done[subject.label] += commits
        label = f"appends, {writers:>2} writers, {scope}"
        for subject in subjects:
            note = f"{retried[subject.label]} retries"
            if rounds > 1:
                shown = ", ".join(f"{rate:.1f}" for rate in rates[subject.label])
                note = f"{rounds} rounds: {shown}/s; {note}"
            _record(
                recorder,
                label,
                subject,
                base,
                rates[subject.label],
                "ops/s",
                count=done[subject.label],
                note=note,
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
    """vxp on a full stack, two Nessies on the same MinIO (commits in memory, and in the stack's
    PostgreSQL), and SqlCatalog on it too, alternating.

    The goals of issue 7 compare vxp with Nessie on the same warehouse in the same run: loadTable
    p50 and p99, append p50, and commits/s of 16 writers on different tables of one branch. They
    were set against the in-memory Nessie the bench ran; the durable one is Nessie as deployed.
    """
    with running(options, "full") as stack:
        stack.create_repository(REPOSITORY)
        env = stack.manager.env()
        s3 = {
            "s3.endpoint": env[Key.S3_ENDPOINT],
            "s3.access-key-id": env[Key.S3_ACCESS_KEY_ID],
            "s3.secret-access-key": env[Key.S3_SECRET_ACCESS_KEY],
            "s3.region": env[Key.S3_REGION],
        }
        sql_dir = options.workdir / "sqlcatalog-s3"
        sql_dir.mkdir()
        sql = Subject(
            SQL_ON_MINIO,
            partial(
                _sql_catalog,
                f"sqlite:///{sql_dir / 'catalog.db'}",
                f"s3://{WAREHOUSE_BUCKET}/sql",
                **s3,
            ),
        )
        vxp_full = partial(stack.catalog, f"{REPOSITORY}.integration")
        try:
            with (
                nessie.running(options, s3) as memory,
                nessie.running(options, s3, postgres=env[Key.POSTGRES_DSN]) as durable,
            ):
                subjects = [
                    sql,
                    Subject(NESSIE, memory.nessie),
                    Subject(NESSIE_PG, durable.nessie),
                    Subject(VXP_FULL, vxp_full, vs=(NESSIE, NESSIE_PG, SQL_ON_MINIO)),
                ]
                _measure_on_minio(options, recorder, subjects)
        except nessie.Unavailable as exc:
            recorder.skip("nessie", str(exc).splitlines()[0])
            recorder.note(f"Nessie {nessie.VERSION} was not measured: {exc}")
            _measure_on_minio(options, recorder, [sql, Subject(VXP_FULL, vxp_full)])
            return
    recorder.note(
        f"Nessie {nessie.VERSION} accepts only object-store warehouses, so it, its SqlCatalog "
        f"baseline and '{VXP_FULL}' (the vxp catalog of a full stack: PostgreSQL, MinIO, lakeFS) "
        f"all write to that stack's MinIO, alternating. '{NESSIE}' keeps its commits in memory "
        f"(lost on restart; the issue-7 goals were set against it), '{NESSIE_PG}' in that "
        "stack's PostgreSQL, where lakeFS keeps vxp's (durable, as Nessie is deployed). The vxp "
        "rows' ratio is against in-memory Nessie (the goals: loadTable p50 and p99 <= 1x, append "
        "p50 <= 1x, 16 writers on different tables >= 1x) and the note adds the others'; these ms "
        "do not compare to the local-disk rows"
    )


def _measure_on_minio(options: Options, recorder: Recorder, subjects: list[Subject]) -> None:
    _latencies(options, recorder, subjects)
    # the throughput goal of issue 7: writers on different tables of one branch; one round of
    # 32 commits takes about a second, so a single one is mostly noise
    _concurrency(options, recorder, subjects, cases=((16, False),), rounds=options.scale(5, 3))
