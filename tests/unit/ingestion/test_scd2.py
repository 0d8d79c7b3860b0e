"""SCD-2 planning in DuckDB against a row-by-row model of the rules in ``scd2``'s docstring."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vxp.ingestion.scd2 import apply_scd2, business_schema, plan_scd2, with_scd2

HISTORY = with_scd2(
    pa.schema([("site", pa.string()), ("n", pa.int64()), ("v", pa.float64()), ("s", pa.string())])
)
KEY = ("site", "n")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _same(a: Any, b: Any) -> bool:
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return nan or a == b


def model(
    history: list[dict[str, Any]],
    incoming: list[dict[str, Any]],
    run: str,
    at: datetime,
    full: bool,
) -> tuple[list[dict[str, Any]], tuple[int, int, int, int]]:
    """The rules, one row at a time: the new history and (inserted, updated, deleted,
    unchanged)."""
    rows = [dict(r) for r in history]
    current = {(r["site"], r["n"]): r for r in rows if r["is_current"]}
    highest: dict[tuple[Any, ...], int] = {}
    for r in rows:
        k = (r["site"], r["n"])
        highest[k] = max(highest.get(k, 0), r["version"])
    counts = [0, 0, 0, 0]
    seen = set()
    for new in incoming:
        k = (new["site"], new["n"])
        seen.add(k)
        old = current.get(k)
        if old is not None and all(_same(new[c], old[c]) for c in ("v", "s")):
            counts[3] += 1
            continue
        if old is None:
            counts[0] += 1
        else:
            counts[1] += 1
            old.update(valid_to=at, is_current=False)
        rows.append(
            {
                **new,
                "valid_from": at,
                "valid_to": None,
                "is_current": True,
                "is_deleted": False,
                "version": highest.get(k, 0) + 1,
                "run_id": run,
            }
        )
    if full:
        for k, old in current.items():
            if k not in seen:
                counts[2] += 1
                old.update(valid_to=at, is_current=False, is_deleted=True)
    return rows, (counts[0], counts[1], counts[2], counts[3])


def _canonical(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    def value(x: Any) -> Any:
        return "NaN" if isinstance(x, float) and math.isnan(x) else x

    return sorted(
        (tuple(value(r[c]) for c in HISTORY.names) for r in rows),
        key=lambda t: tuple((v is None, str(v)) for v in t),
    )


deliveries = st.lists(
    st.tuples(
        st.dictionaries(
            st.tuples(st.sampled_from("abc"), st.integers(0, 2)),
            st.tuples(
                st.sampled_from([1.0, 2.0, float("nan"), None]), st.sampled_from(["x", "y", None])
            ),
            max_size=9,
        ),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=30, deadline=None)
@given(deliveries)
def test_plan_and_apply_follow_the_rules_over_many_runs(
    runs: list[tuple[dict[tuple[str, int], tuple[float | None, str | None]], bool]],
) -> None:
    table = HISTORY.empty_table()
    expected: list[dict[str, Any]] = []
    for number, (state, full) in enumerate(runs):
        at = T0 + timedelta(days=number)
        incoming = [{"site": k[0], "n": k[1], "v": v, "s": s} for k, (v, s) in state.items()]
        plan = plan_scd2(
            table,
            pa.Table.from_pylist(incoming, schema=business_schema(HISTORY)),
            key=KEY,
            run_id=f"r{number}",
            at=at,
            full=full,
        )
        expected, counts = model(expected, incoming, f"r{number}", at, full)
        assert (plan.inserted, plan.updated, plan.deleted, plan.unchanged) == counts
        assert plan.close.schema == HISTORY and plan.open.schema == HISTORY
        table = apply_scd2(table, plan, key=KEY)
        assert table.schema == HISTORY
        assert _canonical(table.to_pylist()) == _canonical(expected)


def test_outputs_keep_incoming_then_history_order() -> None:
    incoming = pa.table({"site": ["c", "a", "b"], "n": [1, 1, 1], "v": [1.0, 1.0, 1.0]})
    schema = with_scd2(incoming.schema)
    first = plan_scd2(schema.empty_table(), incoming, key=KEY, run_id="r1", at=T0, full=True)
    assert first.open.column("site").to_pylist() == ["c", "a", "b"]
    history = apply_scd2(schema.empty_table(), first, key=KEY)
    later = pa.table({"site": ["b", "a", "z"], "n": [1, 1, 1], "v": [2.0, 2.0, 1.0]})
    plan = plan_scd2(history, later, key=KEY, run_id="r2", at=T0, full=True)
    # updates in incoming order, then the deletion
    assert plan.close.column("site").to_pylist() == ["b", "a", "c"]
    assert plan.close.column("is_deleted").to_pylist() == [False, False, True]
    assert plan.open.column("site").to_pylist() == ["b", "a", "z"]
    after = apply_scd2(history, plan, key=KEY)
    assert after.column("site").to_pylist() == ["b", "a", "c", "b", "a", "z"]


def test_plan_refuses_repeated_and_null_keys_and_two_current_rows() -> None:
    schema = with_scd2(pa.schema([("site", pa.string()), ("n", pa.int64())]))
    repeated = pa.table({"site": ["a", "a"], "n": [1, 1]})
    with pytest.raises(ValueError, match="repeat keys"):
        plan_scd2(schema.empty_table(), repeated, key=KEY, run_id="r", at=T0, full=True)
    null = pa.table({"site": ["a", None], "n": [1, 1]})
    with pytest.raises(ValueError, match="null key"):
        plan_scd2(schema.empty_table(), null, key=KEY, run_id="r", at=T0, full=True)
    one = pa.table({"site": ["a"], "n": [1]})
    opened = plan_scd2(schema.empty_table(), one, key=KEY, run_id="r", at=T0, full=True).open
    twice = pa.concat_tables([opened, opened])
    with pytest.raises(ValueError, match="two current rows"):
        plan_scd2(twice, one, key=KEY, run_id="r", at=T0, full=True)
    plan = plan_scd2(
        opened, pa.table({"site": ["b"], "n": [1]}), key=KEY, run_id="r", at=T0, full=True
    )
    with pytest.raises(ValueError, match="not in the history"):
        apply_scd2(schema.empty_table(), plan, key=KEY)
