"""A repository whose table has three versions to read back: a tag, a commit and a branch head."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import EqualTo

from tests.support import Stack, catalog
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain.repositories import create_repository

PATIENTS = pa.schema([("id", pa.int64()), ("site", pa.string()), ("age", pa.int32())])
SITES = ("basel", "bern", "zurich")
Row = tuple[int, str, int]


def patients(first_id: int, count: int, seed: int) -> pa.Table:
    rng = random.Random(seed)
    return pa.table(
        {
            "id": list(range(first_id, first_id + count)),
            "site": [rng.choice(SITES) for _ in range(count)],
            "age": [rng.randint(18, 90) for _ in range(count)],
        },
        schema=PATIENTS,
    )


def rows(table: pa.Table) -> list[Row]:
    """The rows of an Arrow table with the PATIENTS columns, sorted by id."""
    ids, sites, ages = (table.column(name).to_pylist() for name in ("id", "site", "age"))
    return sorted(zip(ids, sites, ages, strict=True))


def head(stack: Stack, repo: str, branch: str) -> str:
    commit = stack.session().branch_head(repo, branch)
    assert commit is not None, f"no branch {branch!r} in {repo!r}"
    return commit


def tag(stack: Stack, repo: str, name: str, ref: str) -> None:
    stack.session().create_tag(repo, name, ref)


def branch(stack: Stack, repo: str, name: str, source: str) -> None:
    stack.session().create_branch(repo, name, source)


@dataclass(frozen=True)
class Versions:
    """``basel.patients`` of ``repo``: 20 rows at tag ``v1`` (= ``commit``), then the
    ``integration`` head after appending 10 rows and deleting the Bern patients."""

    repo: str
    commit: str
    at_v1: list[Row]
    at_head: list[Row]


def versioned_repo(stack: Stack, repo: str) -> Versions:
    create_repository(stack.session(), repo, stack.settings.storage_namespace_prefix)
    cat = catalog(stack, f"{repo}.{DEFAULT_BRANCH}")
    cat.create_namespace("basel")
    table = cat.create_table("basel.patients", schema=PATIENTS)
    first = patients(1, 20, seed=1)
    table.append(first)
    commit = head(stack, repo, DEFAULT_BRANCH)
    tag(stack, repo, "v1", commit)
    more = patients(21, 10, seed=2)
    table.append(more)
    table.delete(EqualTo("site", "bern"))
    at_head = [row for row in rows(pa.concat_tables([first, more])) if row[1] != "bern"]
    return Versions(repo, commit, rows(first), at_head)
