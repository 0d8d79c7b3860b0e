"""e. Branch creation with 1 table vs 1,000 tables in the repository: branching must be O(1).

Every table's catalog entry is an object in the lakeFS ref, so a branch of a repository with many
tables must cost what a branch of an almost empty one costs. Creating the tables goes through the
catalog (one catalog commit each), which also shows whether catalog commits slow down as the
number of tables grows.
"""

from __future__ import annotations

from functools import partial

from bench import data
from bench.core import Options, Recorder, ms, timed
from bench.stack import running
from vxp.core.names import DEFAULT_BRANCH

NAME = "branching"
TITLE = "e. lakeFS branch creation with 1 vs many tables (O(1) branching)"

NAMESPACE = "bench"
WARMUP = 20


def run(options: Options, recorder: Recorder) -> None:
    many = options.scale(100, 1000)
    branches = options.scale(200, 1000)
    repositories = {1: "bench-one-table", many: "bench-many-tables"}
    creates: list[float] = []
    with running(options, "embedded") as stack:
        for tables, repository in repositories.items():
            stack.create_repository(repository)
            catalog = stack.catalog(f"{repository}.{DEFAULT_BRANCH}")
            catalog.create_namespace(NAMESPACE)
            for i in range(tables):
                identifier = f"{NAMESPACE}.t{i:04d}"
                creates.append(timed(partial(catalog.create_table, identifier, data.SCHEMA)))
        # the first create went to the one-table repository; the rest built the big one
        building = creates[1:]
        tenth = max(1, len(building) // 10)
        first, last = f"create table, first {tenth} of {many}", f"create table, last {tenth}"
        recorder.add(first, ms(building[:tenth]), "ms")
        recorder.add(last, ms(building[-tenth:]), "ms", baseline=first)

        lakefs = stack.lakefs

        def create(repository: str, name: str) -> None:
            lakefs.create_branch(repository, name, DEFAULT_BRANCH)

        for i in range(WARMUP):
            for repository in repositories.values():
                create(repository, f"warmup-{i}")
        samples: dict[int, list[float]] = {tables: [] for tables in repositories}
        for i in range(branches):
            # alternate which repository goes first so drift and caching favour neither
            order = list(repositories.items())
            if i % 2:
                order.reverse()
            for tables, repository in order:
                samples[tables].append(timed(partial(create, repository, f"b{i:05d}")))
    recorder.add("branch create, 1 table", ms(samples[1]), "ms")
    recorder.add(
        f"branch create, {many} tables",
        ms(samples[many]),
        "ms",
        baseline="branch create, 1 table",
    )
    recorder.note(
        f"{many} tables created through the catalog (one catalog commit each); expected ratio "
        "~1.00x for branch creation (O(1): a branch is a pointer to a commit)"
    )
