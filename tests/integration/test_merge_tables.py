"""Table-aware merges (:mod:`vxp.domain.merging`) on the real embedded stack.

Each test has its own repository; tables are written through the catalog with pyiceberg, as an
engine would, on branches cut from ``integration`` (a protected layer branch), and merged into it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table
from pyiceberg.types import LongType, StringType

from tests.support import Stack, catalog
from vxp.core import errors
from vxp.core.errors import VxpError
from vxp.domain.merging import MergeCandidate, MergeConflict, merge
from vxp.domain.refs import create_branch, resolve
from vxp.domain.repositories import create_repository

pytestmark = pytest.mark.integration

VISITS = pa.schema([("id", pa.int64()), ("site", pa.string())])


def visits(*ids: int, site: str = "basel") -> pa.Table:
    return pa.table({"id": list(ids), "site": [site] * len(ids)}, schema=VISITS)


@pytest.fixture
def repo(embedded: Stack, repo_name: str) -> str:
    create_repository(embedded.session(), repo_name, embedded.settings.storage_namespace_prefix)
    return repo_name


def at(stack: Stack, repo: str, ref: str) -> Catalog:
    return catalog(stack, f"{repo}.{ref}")


def rows(stack: Stack, repo: str, ref: str, table: str) -> Counter[tuple[object, ...]]:
    """The table's rows at ``ref`` as a multiset of tuples."""
    data = at(stack, repo, ref).load_table(table).scan().to_arrow()
    names = data.column_names
    return Counter(tuple(r[n] for n in names) for r in data.to_pylist())


def two_branches(stack: Stack, repo: str) -> tuple[Catalog, Catalog]:
    base = at(stack, repo, "integration")
    base.create_namespace("trial")
    base.create_table("trial.visits", schema=VISITS).append(visits(1, 2, 3))
    session = stack.session()
    create_branch(session, repo, "left", "integration")
    create_branch(session, repo, "right", "integration")
    return at(stack, repo, "left"), at(stack, repo, "right")


def test_plain_merge_and_check_path(embedded: Stack, repo: str) -> None:
    left, _ = two_branches(embedded, repo)
    left.load_table("trial.visits").append(visits(4))
    session = embedded.session()
    before = resolve(session, repo, "integration")

    seen: list[MergeCandidate] = []

    def refuse(candidate: MergeCandidate) -> None:
        seen.append(candidate)
        # the candidate's commit holds the merged tree
        merged = at(embedded, repo, candidate.merged_commit).load_table("trial.visits")
        assert len(merged.scan().to_arrow()) == 4
        raise VxpError("refused by the check")

    with pytest.raises(VxpError, match="refused by the check"):
        merge(session, repo, "left", "integration", check=refuse, settings=embedded.settings)
    assert seen[0].destination_commit == before
    assert seen[0].source_commit == resolve(session, repo, "left")
    assert resolve(session, repo, "integration") == before
    # the temporary branch is gone
    assert all(not b.startswith("vxp-merge-") for b in session.branch_heads(repo, hidden=True))

    result = merge(
        session, repo, "left", "integration", check=seen.append, settings=embedded.settings
    )
    assert result.tables == ()
    assert resolve(session, repo, "integration") == result.commit_id
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        (i, "basel") for i in (1, 2, 3, 4)
    )


def test_strategy_chooses_a_side_of_a_real_conflict(embedded: Stack, repo: str) -> None:
    left, right = two_branches(embedded, repo)
    # both replace the table's contents: the same rows changed on both sides
    left.load_table("trial.visits").overwrite(visits(10))
    right.load_table("trial.visits").overwrite(visits(20, 21))
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    before = resolve(session, repo, "integration")

    with pytest.raises(MergeConflict) as raised:
        merge(session, repo, "right", "integration", settings=embedded.settings)
    assert [c.table for c in raised.value.conflicts] == ["trial.visits"]
    assert "trial.visits=ours|theirs" in (raised.value.hint or "")
    assert resolve(session, repo, "integration") == before

    result = merge(
        session,
        repo,
        "right",
        "integration",
        strategies={"trial.visits": "theirs"},
        settings=embedded.settings,
    )
    assert [(t.table, t.how) for t in result.tables] == [("trial.visits", "theirs")]
    # what the choice threw away: the destination's snapshots since the common version, each
    # with its operation and rows (left's overwrite: a delete of the 3 rows, an append of 1)
    left_snapshots = [s.snapshot_id for s in left.load_table("trial.visits").snapshots()[-2:]]
    (detail,) = [t.detail for t in result.tables]
    assert detail.startswith(
        "kept the source's version; dropped the destination's changes since the common "
        "version: 2 snapshot(s) "
    ), detail
    assert f"delete {left_snapshots[0]} (-3 rows), append {left_snapshots[1]} (+1 rows)" in detail
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        (i, "basel") for i in (20, 21)
    )
    commit = session.get_commit(repo, result.commit_id)
    assert commit is not None and "trial.visits" in commit.metadata["vxp.merge.tables"]


def test_appends_on_both_sides_are_both_kept(embedded: Stack, repo: str) -> None:
    left, right = two_branches(embedded, repo)
    left_table = left.load_table("trial.visits")
    left_table.append(visits(4, 5))
    right_table = right.load_table("trial.visits")
    right_table.append(visits(6, 7, 8, site="bern"))
    right_table.append(visits(9, site="bern"))
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    before_merge = resolve(session, repo, "integration")
    right_before = rows(embedded, repo, "right", "trial.visits")

    result = merge(session, repo, "right", "integration", settings=embedded.settings)

    (merged,) = result.tables
    assert (merged.table, merged.how) == ("trial.visits", "merged")
    expected = Counter(
        [(i, "basel") for i in (1, 2, 3, 4, 5)] + [(i, "bern") for i in (6, 7, 8, 9)]
    )
    assert rows(embedded, repo, "integration", "trial.visits") == expected
    table = at(embedded, repo, "integration").load_table("trial.visits")
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.snapshot_id == merged.snapshot_id
    assert snapshot.summary is not None and snapshot.summary["total-records"] == "9"
    assert snapshot.summary.operation.value == "append"
    # time travel on both sides still reads what it read
    assert rows(embedded, repo, "right", "trial.visits") == right_before
    assert rows(embedded, repo, before_merge, "trial.visits") == Counter(
        (i, "basel") for i in (1, 2, 3, 4, 5)
    )
    # the merged table takes further writes through the catalog
    table.append(visits(10))
    assert len(at(embedded, repo, "integration").load_table("trial.visits").scan().to_arrow()) == 10
    commit = session.get_commit(repo, result.commit_id)
    assert commit is not None and '"how": "merged"' in commit.metadata["vxp.merge.tables"]


def test_deletes_of_different_files_commute_of_the_same_file_conflict(
    embedded: Stack, repo: str
) -> None:
    left, _ = two_branches(embedded, repo)
    # pyiceberg deletes copy-on-write: a rewritten file replaces the one with the rows
    left.load_table("trial.visits").append(visits(4, 5, site="bern"))
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    create_branch(session, repo, "a", "integration")
    create_branch(session, repo, "b", "integration")
    at(embedded, repo, "a").load_table("trial.visits").delete("id = 1")
    at(embedded, repo, "b").load_table("trial.visits").delete("id = 4")
    merge(session, repo, "a", "integration", settings=embedded.settings)
    merge(session, repo, "b", "integration", settings=embedded.settings)
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        [(2, "basel"), (3, "basel"), (5, "bern")]
    )

    create_branch(session, repo, "c", "integration")
    create_branch(session, repo, "d", "integration")
    at(embedded, repo, "c").load_table("trial.visits").delete("id = 2")
    at(embedded, repo, "d").load_table("trial.visits").delete("id = 3")
    merge(session, repo, "c", "integration", settings=embedded.settings)
    with pytest.raises(MergeConflict) as raised:
        merge(session, repo, "d", "integration", settings=embedded.settings)
    (conflict,) = raised.value.conflicts
    text = conflict.describe()
    assert "destination: 1 snapshot(s): " in text and "source: 1 snapshot(s): " in text
    assert "both sides removed or rewrote the same 1 file(s)" in text


def test_columns_added_on_both_sides_commute(embedded: Stack, repo: str) -> None:
    left, right = two_branches(embedded, repo)
    table = left.load_table("trial.visits")
    with table.update_schema() as update:
        update.add_column("score", LongType())
    table.append(
        pa.table(
            {"id": [4], "site": ["basel"], "score": [40]},
            schema=pa.schema([("id", pa.int64()), ("site", pa.string()), ("score", pa.int64())]),
        )
    )
    table = right.load_table("trial.visits")
    with table.update_schema() as update:
        update.add_column("note", StringType(), doc="free text")
        update.update_column("site", doc="the visit's site")
    table.append(
        pa.table(
            {"id": [5], "site": ["bern"], "note": ["late"]},
            schema=pa.schema([("id", pa.int64()), ("site", pa.string()), ("note", pa.string())]),
        )
    )
    # both new columns got field ID 3 on their branch, and both wrote data with it
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    right_before = rows(embedded, repo, "right", "trial.visits")
    result = merge(session, repo, "right", "integration", settings=embedded.settings)

    (merged,) = result.tables
    assert merged.how == "merged" and "field ID 3 → 4" in merged.detail
    table = at(embedded, repo, "integration").load_table("trial.visits")
    fields = {f.name: f for f in table.schema().fields}
    assert [(f.name, f.field_id) for f in table.schema().fields] == [
        ("id", 1),
        ("site", 2),
        ("score", 3),
        ("note", 4),
    ]
    assert fields["site"].doc == "the visit's site" and fields["note"].doc == "free text"
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        [
            (1, "basel", None, None),
            (2, "basel", None, None),
            (3, "basel", None, None),
            (4, "basel", 40, None),
            (5, "bern", None, "late"),
        ]
    )
    # the source still reads what it read
    assert rows(embedded, repo, "right", "trial.visits") == right_before


@pytest.mark.parametrize(
    "change_left, change_right, reason",
    [
        (
            lambda t: t.update_schema().rename_column("site", "place").commit(),
            lambda t: t.update_schema().rename_column("site", "centre").commit(),
            "column site: both sides changed its name (place and centre)",
        ),
        (
            lambda t: t.update_schema().delete_column("site").commit(),
            lambda t: t.update_schema().rename_column("site", "centre").commit(),
            "column centre: one side dropped it, the other changed it",
        ),
        (
            lambda t: t.update_spec().add_identity("site").commit(),
            lambda t: t.update_spec().add_identity("id").commit(),
            "both sides changed the partition spec",
        ),
        (
            lambda t: t.overwrite(visits(7)),
            lambda t: t.delete("id = 1"),
            "both sides removed or rewrote the same 1 file(s)",
        ),
    ],
    ids=["rename-rename", "drop-rename", "partition-specs", "overwrite-delete"],
)
def test_real_conflicts_are_explained_and_change_nothing(
    embedded: Stack,
    repo: str,
    change_left: Callable[[Table], object],
    change_right: Callable[[Table], object],
    reason: str,
) -> None:
    left, right = two_branches(embedded, repo)
    change_left(left.load_table("trial.visits"))
    change_right(right.load_table("trial.visits"))
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    before = resolve(session, repo, "integration")
    with pytest.raises(MergeConflict) as raised:
        merge(session, repo, "right", "integration", settings=embedded.settings)
    message = str(raised.value)
    assert "table trial.visits" in message and reason in message, message
    assert "destination: " in message and "source: " in message
    assert resolve(session, repo, "integration") == before


def test_a_replaced_table_conflicts_and_ours_keeps_the_destination(
    embedded: Stack, repo: str
) -> None:
    left, right = two_branches(embedded, repo)
    left.load_table("trial.visits").append(visits(4))
    right.drop_table("trial.visits")
    right.create_table("trial.visits", schema=VISITS).append(visits(99))
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    with pytest.raises(MergeConflict, match="different table UUIDs"):
        merge(session, repo, "right", "integration", settings=embedded.settings)
    result = merge(
        session, repo, "right", "integration", strategies={"*": "ours"}, settings=embedded.settings
    )
    assert [(t.table, t.how) for t in result.tables] == [("trial.visits", "ours")]
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        (i, "basel") for i in (1, 2, 3, 4)
    )


def test_a_dropped_table_conflicts_and_theirs_drops_it(embedded: Stack, repo: str) -> None:
    left, right = two_branches(embedded, repo)
    left.load_table("trial.visits").append(visits(4))
    right.drop_table("trial.visits")
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    kept = resolve(session, repo, "integration")
    with pytest.raises(MergeConflict, match="the source dropped the table"):
        merge(session, repo, "right", "integration", settings=embedded.settings)
    result = merge(
        session,
        repo,
        "right",
        "integration",
        strategies={"trial.visits": "theirs"},
        settings=embedded.settings,
    )
    assert [(t.table, t.how) for t in result.tables] == [("trial.visits", "theirs")]
    (detail,) = [t.detail for t in result.tables]
    current = left.load_table("trial.visits").current_snapshot()
    assert current is not None
    assert detail == (
        "dropped, as the source did; dropped the destination's version of the table "
        f"(snapshot {current.snapshot_id})"
    )
    assert not at(embedded, repo, "integration").table_exists("trial.visits")
    # the commit before the merge still reads the table
    assert rows(embedded, repo, kept, "trial.visits") == Counter((i, "basel") for i in (1, 2, 3, 4))


def test_trino_columns_on_both_sides_commute_and_same_rows_conflict(
    full: Stack, repo_name: str
) -> None:
    from vxp.domain.engines import trino

    url = full.settings.trino_url
    assert url is not None, "the full stack's settings name Trino"
    session = full.session()
    create_repository(session, repo_name, full.settings.storage_namespace_prefix)
    base = at(full, repo_name, "integration")
    base.create_namespace("trial")
    base.create_table("trial.visits", schema=VISITS).append(visits(1, 2, 3))
    for name in ("left", "right", "again"):
        create_branch(session, repo_name, name, "integration")

    def sql(statement: str, ref: str) -> None:
        trino.query(url, statement, repo_name, ref)

    sql("ALTER TABLE trial.visits ADD COLUMN score bigint", "left")
    sql("INSERT INTO trial.visits VALUES (4, 'basel', 40)", "left")
    sql("ALTER TABLE trial.visits ADD COLUMN note varchar", "right")
    sql("INSERT INTO trial.visits VALUES (5, 'bern', 'late')", "right")
    sql("UPDATE trial.visits SET site = 'zurich' WHERE id = 2", "again")
    merge(session, repo_name, "left", "integration", settings=full.settings)
    result = merge(session, repo_name, "right", "integration", settings=full.settings)
    assert [t.how for t in result.tables] == ["merged"]
    assert rows(full, repo_name, "integration", "trial.visits") == Counter(
        [
            (1, "basel", None, None),
            (2, "basel", None, None),
            (3, "basel", None, None),
            (4, "basel", 40, None),
            (5, "bern", None, "late"),
        ]
    )
    # Trino reads the rewritten files by their new field IDs
    answer = trino.query(
        url,
        "SELECT id, score, note FROM trial.visits WHERE id >= 4 ORDER BY id",
        repo_name,
        "integration",
    )
    assert answer.table.to_pylist() == [
        {"id": 4, "score": 40, "note": None},
        {"id": 5, "score": None, "note": "late"},
    ]

    # the same row updated on both sides: a real conflict
    sql("UPDATE trial.visits SET site = 'geneva' WHERE id = 2", "integration")
    with pytest.raises(MergeConflict, match="both sides deleted or updated the same 1 row"):
        merge(session, repo_name, "again", "integration", settings=full.settings)


def test_merging_the_same_source_again_brings_only_its_new_rows(embedded: Stack, repo: str) -> None:
    left, right = two_branches(embedded, repo)
    left.load_table("trial.visits").append(visits(4))
    right.load_table("trial.visits").append(visits(5))
    session = embedded.session()
    merge(session, repo, "left", "integration", settings=embedded.settings)
    merge(session, repo, "right", "integration", settings=embedded.settings)
    # both sides go on: the next merge's common version is the source's file merged last time
    at(embedded, repo, "integration").load_table("trial.visits").append(visits(6))
    right.load_table("trial.visits").append(visits(7))
    result = merge(session, repo, "right", "integration", settings=embedded.settings)
    assert [t.how for t in result.tables] == ["merged"]
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        (i, "basel") for i in range(1, 8)
    )

    # a refused change (ours) stays refused when the source is merged again
    right.load_table("trial.visits").overwrite(visits(100))
    at(embedded, repo, "integration").load_table("trial.visits").delete("id = 1")
    merge(
        session, repo, "right", "integration", strategies={"*": "ours"}, settings=embedded.settings
    )
    expected = Counter((i, "basel") for i in range(2, 8))
    assert rows(embedded, repo, "integration", "trial.visits") == expected
    right.load_table("trial.visits").append(visits(8))
    merge(session, repo, "right", "integration", settings=embedded.settings)
    assert rows(embedded, repo, "integration", "trial.visits") == expected + Counter([(8, "basel")])


def test_a_destination_that_moves_during_the_check_is_not_merged(
    embedded: Stack, repo: str
) -> None:
    left, _ = two_branches(embedded, repo)
    left.load_table("trial.visits").append(visits(4))
    session = embedded.session()

    def meanwhile(candidate: MergeCandidate) -> None:
        # someone else's table commit lands on the destination while the check runs
        at(embedded, repo, "integration").load_table("trial.visits").append(visits(9))

    with pytest.raises(errors.Conflict, match="moved while the merge was being checked"):
        merge(session, repo, "left", "integration", check=meanwhile, settings=embedded.settings)
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        (i, "basel") for i in (1, 2, 3, 9)
    )
    # run again, it merges both
    merge(session, repo, "left", "integration", check=lambda c: None, settings=embedded.settings)
    assert rows(embedded, repo, "integration", "trial.visits") == Counter(
        (i, "basel") for i in (1, 2, 3, 4, 9)
    )
