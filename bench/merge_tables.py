"""o. Table-aware merge and diff: appends to the same table on two branches vs changes to
different tables, and ``vxp diff`` of two refs vs ``vxp tables list`` of one (issue 13).

Merge: every round makes, for each case, two branches from the same ``integration`` head. In the
*same table* case both append 1,000 rows to one large table; in the *different tables* case one
appends 1,000 rows to that table and the other 1,000 rows to a second table of the same size.
The first branch is merged into ``integration`` untimed; the second merge is timed: in the same
table case it must combine both appends at the Iceberg level (a new snapshot over both sides' data
files, :mod:`vxp.domain.table_merge`), in the other lakeFS merges objects the two sides changed
apart. Each case is timed through ``checked_merge`` (what ``vxp merge`` calls: the merge made on
a temporary branch, the integration layer's checks on it, then the landing merge) and through
:func:`vxp.domain.merging.merge` without a check. The tables have no data contract, so the checks
are the actions, layer-policy and schema-compatibility checks and DuckDB is never loaded. Cases
alternate round by round.

Diff: a repository with many small tables; branch ``work`` appends 10 rows to 3 of them.
:func:`vxp.domain.tables.diff` (what ``vxp diff integration work`` calls, row counts included)
against :func:`vxp.domain.tables.tables_at` of one ref (what ``vxp tables list`` calls: every
table's snapshot and row count), alternating.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from bench import data
from bench.core import Options, Recorder, ms, timed
from bench.stack import Running, running
from vxp.checks.merge import checked_merge
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain import merging
from vxp.domain.merging import MergeResult
from vxp.domain.tables import diff, tables_at

NAME = "merge"
TITLE = "o. Merge of appends to one table vs to different tables; diff vs tables list"

NAMESPACE = "bench"
BIG, OTHER = f"{NAMESPACE}.big", f"{NAMESPACE}.other"
APPEND = 1000
# pyiceberg appends in chunks: bounded memory for the seeded rows of a large table
CHUNK = 500_000

SAME, DIFFERENT = "same table", "different tables"
CHECKED, PLAIN = "checked_merge (vxp merge)", "merging.merge, no check"
GOAL = "goal <= 3x"


class _Ids:
    """Hands out fresh row ids, so no two appends of the run write the same id."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first


def _fill(stack: Running, repository: str, table: str, rows: int) -> None:
    catalog = stack.catalog(f"{repository}.{DEFAULT_BRANCH}")
    created = catalog.create_table(table, schema=data.SCHEMA)
    for first in range(0, rows, CHUNK):
        created.append(data.batch(min(CHUNK, rows - first), first))


def _append(stack: Running, repository: str, branch: str, table: str, first: int) -> None:
    stack.catalog(f"{repository}.{branch}").load_table(table).append(data.batch(APPEND, first))


def _merge_round(
    stack: Running, repository: str, case: str, path: str, ids: _Ids
) -> tuple[float, MergeResult]:
    """Two fresh branches from ``integration``'s head, their appends, two merges; the second's
    seconds and result."""
    tag = uuid.uuid4().hex[:8]
    first, second = f"a-{tag}", f"b-{tag}"
    for branch in (first, second):
        stack.lakefs.create_branch(repository, branch, DEFAULT_BRANCH)
    _append(stack, repository, first, BIG, ids.take(APPEND))
    _append(stack, repository, second, BIG if case == SAME else OTHER, ids.take(APPEND))
    merging.merge(stack.lakefs, repository, first, DEFAULT_BRANCH, settings=stack.settings)
    do: Callable[[], MergeResult]
    if path == CHECKED:

        def do() -> MergeResult:
            return checked_merge(
                stack.lakefs,
                repository,
                second,
                DEFAULT_BRANCH,
                settings=stack.settings,
                cache=stack.manager.home.cache,
            )
    else:

        def do() -> MergeResult:
            return merging.merge(
                stack.lakefs, repository, second, DEFAULT_BRANCH, settings=stack.settings
            )

    start = time.perf_counter()
    result = do()
    seconds = time.perf_counter() - start
    for branch in (first, second):
        stack.lakefs.delete_branch(repository, branch)
    return seconds, result


def _merges(options: Options, recorder: Recorder, stack: Running) -> None:
    rows = options.scale(100_000, 1_000_000)
    rounds = options.scale(3, 7)
    repository = f"bench-merge-{uuid.uuid4().hex[:4]}"
    stack.create_repository(repository)
    stack.catalog(f"{repository}.{DEFAULT_BRANCH}").create_namespace(NAMESPACE)
    _fill(stack, repository, BIG, rows)
    _fill(stack, repository, OTHER, rows)
    ids = _Ids(rows)
    order = [(case, path) for case in (DIFFERENT, SAME) for path in (CHECKED, PLAIN)]
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in order}
    for i in range(rounds):
        # alternate the order round by round, so drift and warm caches favour no case
        for case, path in order if i % 2 == 0 else list(reversed(order)):
            seconds, result = _merge_round(stack, repository, case, path, ids)
            hows = [table.how for table in result.tables]
            # the same-table merge must have combined both appends, the other touched no table
            assert hows == (["merged"] if case == SAME else []), (case, result)
            samples[(case, path)].append(seconds)
            options.console.print(f"  round {i + 1}/{rounds}, {case}, {path}: {seconds:.2f} s")
    listing = tables_at(stack.lakefs, stack.settings, repository, DEFAULT_BRANCH)
    counts = {table.table: table.rows for table in listing.tables}
    # every round: each case's first branch appends to the big table, and so do both
    # same-table second branches
    expected = rows + APPEND * rounds * (len(order) + 2)
    assert counts[BIG] == expected, (counts, expected)
    for path in (CHECKED, PLAIN):
        base = f"merge, {DIFFERENT}, {path}"
        recorder.add(base, ms(samples[(DIFFERENT, path)]), "ms")
        recorder.add(
            f"merge, {SAME}, {path}",
            ms(samples[(SAME, path)]),
            "ms",
            baseline=base,
            note=GOAL,
        )
    recorder.note(
        f"merge: two branches from the same integration head; each appends {APPEND:,} rows to "
        f"the {rows:,}-row table (same table) or one to it and one to a second {rows:,}-row "
        "table (different tables); the first is merged untimed, the second merge is timed; "
        "checked_merge (what `vxp merge` calls) includes the merge on a temporary branch and the "
        "integration checks on it (actions, layer policy, schema compatibility; no contract, so no "
        f"DuckDB); {rounds} rounds, p50 over rounds; {GOAL}"
    )
    recorder.note(
        "merge: without a check, a merge with no table changed on both sides lands as one lakeFS "
        "merge; the same-table merge also pays the temporary branch (create, merge, pointer "
        "upload, commit, landing merge) besides the Iceberg-level merge, so that ratio is the "
        "whole table-aware path over a bare lakeFS merge; checked_merge takes the temporary "
        "branch in both cases, so its ratio is the table merge's own cost"
    )


def _diff(options: Options, recorder: Recorder, stack: Running) -> None:
    count = options.scale(100, 100)
    changed = 3
    runs = options.scale(5, 15)
    repository = f"bench-diff-{uuid.uuid4().hex[:4]}"
    stack.create_repository(repository)
    catalog = stack.catalog(f"{repository}.{DEFAULT_BRANCH}")
    catalog.create_namespace(NAMESPACE)
    names = [f"{NAMESPACE}.t{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        catalog.create_table(name, schema=data.SCHEMA).append(data.batch(100, i * 1000))
    stack.lakefs.create_branch(repository, "work", DEFAULT_BRANCH)
    work = stack.catalog(f"{repository}.work")
    for i, name in enumerate(names[:changed]):
        work.load_table(name).append(data.batch(10, i * 1000 + 100))

    def compare() -> None:
        result = diff(stack.lakefs, stack.settings, repository, DEFAULT_BRANCH, "work")
        assert [t.table for t in result.tables] == names[:changed], result.tables
        assert all(t.rows is not None and t.rows.added == 10 for t in result.tables)

    def list_tables() -> None:
        listing = tables_at(stack.lakefs, stack.settings, repository, "work")
        assert len(listing.tables) == count

    compare()  # warm-up: DuckDB's extensions, HTTP pools
    list_tables()
    diffs: list[float] = []
    lists: list[float] = []
    for i in range(runs):
        pair = [(diffs, compare), (lists, list_tables)]
        for samples, action in pair if i % 2 == 0 else reversed(pair):
            samples.append(timed(action))
    base = f"tables list of one ref, {count} tables"
    recorder.add(base, ms(lists), "ms")
    recorder.add(
        f"diff of two refs, {count} tables, {changed} changed", ms(diffs), "ms", baseline=base
    )
    recorder.note(
        f"diff: {count} tables of 100 rows, {changed} of them with 10 rows appended on `work`; "
        "`vxp diff integration work` (tables.diff, row counts of the changed tables included) vs "
        "`vxp tables list --ref work` (tables.tables_at: every table's snapshot and row count), "
        f"alternating, one untimed warm-up each, {runs} runs"
    )


def run(options: Options, recorder: Recorder) -> None:
    with running(options, "embedded") as stack:
        _merges(options, recorder, stack)
        _diff(options, recorder, stack)
