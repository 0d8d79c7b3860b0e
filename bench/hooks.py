"""n. Hooks: merge latency into ``integration`` with vxp's hooks vs without, and a data contract
on a large table vs the same checks as one hand-written DuckDB query.

Merges: every iteration appends rows to a contracted table on a work branch and merges it into
``integration``: plain lakeFS merge without hooks (the baseline), the same with vxp's action
installed (lakeFS calls the hooks server, which runs every check), and ``checked_merge`` (the
checks in-process on a temporary branch, then the hooked landing merge). The in-process checks
alone are timed too, so the table shows where the time goes.

Contract: not null + unique key + accepted values on one table, compiled by
:mod:`vxp.checks.contracts` (one aggregate scan) vs the hand-written query, same DuckDB session.
"""

from __future__ import annotations

import time
import uuid

import pyarrow as pa

from bench.core import Options, Recorder, ms
from bench.stack import Running, running
from vxp.checks.actions import install
from vxp.checks.base import CheckEnv, Target, WarmDuckDB
from vxp.checks.client import fetch_actions
from vxp.checks.contracts import parse_contract, run_contract
from vxp.checks.merge import checked_merge
from vxp.checks.runner import run_checks
from vxp.domain import merging
from vxp.domain.engines import duckdb as duck

NAME = "hooks"
TITLE = "n. Hooks: merge latency with vs without, a contract vs hand-written SQL"

SCHEMA = pa.schema([("id", pa.int64()), ("cat", pa.string()), ("value", pa.float64())])
CONTRACT = (
    b"unique_key: [id]\ncolumns:\n  id: {not_null: true}\n  cat: {accepted_values: [a, b, c, d]}\n"
)
HAND_WRITTEN = (
    "SELECT count(*), count(*) FILTER (WHERE id IS NULL), count(*) - count(DISTINCT id), "
    "count(*) FILTER (WHERE cat IS NOT NULL AND cat NOT IN ('a', 'b', 'c', 'd')) "
    "FROM lake.bench.events"
)


def _batch(rows: int, first: int) -> pa.Table:
    ids = pa.array(range(first, first + rows), pa.int64())
    cats = pa.array(["abcd"[i % 4] for i in range(first, first + rows)])
    return pa.table({"id": ids, "cat": cats, "value": pa.array([0.5] * rows)}, schema=SCHEMA)


def _prepare(stack: Running, repo: str, rows: int, hooks: bool) -> None:
    stack.create_repository(repo)
    if hooks:
        url = stack.manager.env()["VXP_HOOKS_URL"]
        install(stack.lakefs, repo, fetch_actions(url, stack.settings))
    seed = f"seed-{uuid.uuid4().hex[:6]}"
    stack.lakefs.create_branch(repo, seed, "integration")
    lake = stack.catalog(f"{repo}.{seed}")
    lake.create_namespace("bench")
    lake.create_table("bench.events", schema=SCHEMA).append(_batch(rows, 0))
    stack.lakefs.upload_object(repo, seed, "_vxp/contracts/bench.events.yaml", CONTRACT)
    stack.lakefs.commit(repo, seed, "contract", {})
    merging.merge(stack.lakefs, repo, seed, "integration", settings=stack.settings)


def _work(stack: Running, repo: str, first: int) -> str:
    branch = f"w-{uuid.uuid4().hex[:8]}"
    stack.lakefs.create_branch(repo, branch, "integration")
    stack.catalog(f"{repo}.{branch}").load_table("bench.events").append(_batch(100, first))
    return branch


def _merges(options: Options, recorder: Recorder, stack: Running) -> None:
    rows = options.scale(100_000, 1_000_000)
    runs = options.scale(5, 15)
    plain, hooked = f"bench-nohooks-{uuid.uuid4().hex[:4]}", f"bench-hooks-{uuid.uuid4().hex[:4]}"
    _prepare(stack, plain, rows, hooks=False)
    _prepare(stack, hooked, rows, hooks=True)
    cases: dict[str, list[float]] = {
        "merge, no hooks": [],
        "merge, hooks installed": [],
        "checked_merge, hooks installed": [],
        "checks alone (warm DuckDB, as the server)": [],
    }
    # as the hooks server runs them: one warm DuckDB (extensions loaded once)
    env = CheckEnv(
        stack.lakefs, stack.settings, stack.manager.home.cache, WarmDuckDB(stack.manager.home.cache)
    )
    for i in range(runs):
        first = rows + i * 1000
        for case, repo in (
            ("merge, no hooks", plain),
            ("merge, hooks installed", hooked),
            ("checked_merge, hooks installed", hooked),
        ):
            branch = _work(stack, repo, first + (500 if "checked" in case else 0))
            start = time.perf_counter()
            if case.startswith("checked"):
                checked_merge(stack.lakefs, repo, branch, "integration", settings=stack.settings)
            else:
                merging.merge(stack.lakefs, repo, branch, "integration", settings=stack.settings)
            cases[case].append(time.perf_counter() - start)
        head = stack.lakefs.get_commit(hooked, "integration")
        assert head is not None
        target = Target(hooked, "integration", head.id, head.parents[0])
        start = time.perf_counter()
        report = run_checks(env, target)
        cases["checks alone (warm DuckDB, as the server)"].append(time.perf_counter() - start)
        assert report.passed, report.describe()
    recorder.add("merge, no hooks", ms(cases["merge, no hooks"]), "ms")
    for case in list(cases)[1:]:
        recorder.add(case, ms(cases[case]), "ms", baseline="merge, no hooks")
    recorder.note(
        f"each merge appends 100 rows to a {rows:,}-row table with a contract (not null, unique "
        "key, accepted values), so the contract check runs on every merge"
    )


def _contract(options: Options, recorder: Recorder, stack: Running) -> None:
    rows = options.scale(1_000_000, 10_000_000)
    runs = options.scale(5, 9)
    repo = f"bench-contract-{uuid.uuid4().hex[:4]}"
    stack.create_repository(repo)
    lake = stack.catalog(f"{repo}.integration")
    lake.create_namespace("bench")
    table = lake.create_table("bench.events", schema=SCHEMA)
    chunk = 1_000_000
    for first in range(0, rows, chunk):
        table.append(_batch(min(chunk, rows - first), first))
    contract, problems = parse_contract("_vxp/contracts/bench.events.yaml", CONTRACT.decode())
    assert contract is not None and not problems
    conn = duck.session(stack.manager.home.cache, stack.settings, repo, "integration")
    try:
        conn.execute(HAND_WRITTEN).fetchall()  # warm the metadata and file caches alike
        hand: list[float] = []
        compiled: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            conn.execute(HAND_WRITTEN).fetchall()
            hand.append(time.perf_counter() - start)
            start = time.perf_counter()
            found = run_contract(conn, contract)
            compiled.append(time.perf_counter() - start)
            assert found == [], found
    finally:
        conn.close()
    recorder.add(f"hand-written query, {rows:,} rows", ms(hand), "ms")
    recorder.add(
        f"contract (not null + unique + accepted values), {rows:,} rows",
        ms(compiled),
        "ms",
        baseline=f"hand-written query, {rows:,} rows",
        note="goal <= 1.2x",
    )


def run(options: Options, recorder: Recorder) -> None:
    with running(options, "embedded") as stack:
        _merges(options, recorder, stack)
        _contract(options, recorder, stack)
