"""The end-to-end demo job, also used by tests: ingest a Parquet file and query it at a commit."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import lakefs_sdk
import pyarrow as pa
import pyarrow.parquet as pq
from lakefs_sdk.exceptions import NotFoundException

from vxp.connection import Settings
from vxp.engines import duckdb as duck
from vxp.home import Home
from vxp.versioning import create_repository, upload


@dataclass(frozen=True)
class DemoResult:
    commit_id: str
    branch: str
    uri: str
    columns: list[str]
    rows: list[tuple[object, ...]]


def sample_table(seed: int = 7) -> pa.Table:
    """A small, deterministic table of study visits."""
    import random

    rng = random.Random(seed)
    n = 100
    return pa.table(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "site": [rng.choice(["basel", "bern", "zurich"]) for _ in range(n)],
            "age": [rng.randint(18, 90) for _ in range(n)],
            "systolic_bp": [round(rng.gauss(125, 15), 1) for _ in range(n)],
        }
    )


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def duckdb_over_lakefs(settings: Settings, cache: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB reading lakeFS refs (``s3://<repo>/<ref>/…``) through lakeFS's S3 gateway."""
    conn = duck.connect(cache)
    conn.execute(
        duck.s3_secret_sql(
            "lakefs",
            key_id=settings.lakefs_access_key_id,
            secret=settings.lakefs_secret_access_key,
            endpoint=settings.lakefs_endpoint,
        )
    )
    return conn


def run_demo(settings: Settings, repository: str, say: Callable[[str], None]) -> DemoResult:
    client = settings.lakefs()
    repos = lakefs_sdk.RepositoriesApi(client)
    branches = lakefs_sdk.BranchesApi(client)
    try:
        repos.get_repository(repository)
        say(f"• repository [bold]{repository}[/bold] exists")
    except NotFoundException:
        create_repository(settings, repository)
        say(f"• created repository [bold]{repository}[/bold] (layers: source, integration)")

    run = uuid.uuid4().hex[:8]
    ingest = f"ingest-demo-{run}"
    branches.create_branch(repository, lakefs_sdk.BranchCreation(name=ingest, source="source"))
    say(f"• cut ingestion branch [bold]{ingest}[/bold] from source")

    path = "raw/visits/visits.parquet"
    data = parquet_bytes(sample_table())
    upload(settings, repository, ingest, path, data)
    say(f"• uploaded {path} ({len(data)} bytes)")
    commit = lakefs_sdk.CommitsApi(client).commit(
        repository,
        ingest,
        lakefs_sdk.CommitCreation(message="demo: ingest visits", metadata={"vxp.run": run}),
    )
    say(f"• committed [bold]{commit.id}[/bold]")
    lakefs_sdk.RefsApi(client).merge_into_branch(repository, ingest, "source")
    branches.delete_branch(repository, ingest)
    say("• merged into source (protected: merge-only) and removed the ingestion branch")

    experiment = f"exp-demo-{run}"
    branches.create_branch(repository, lakefs_sdk.BranchCreation(name=experiment, source=commit.id))
    say(f"• branched [bold]{experiment}[/bold] from that commit (no data copied)")

    uri = f"s3://{repository}/{commit.id}/{path}"
    conn = duckdb_over_lakefs(settings, Home.from_env().cache)
    cursor = conn.execute(
        "SELECT site, count(*) AS visits, round(avg(systolic_bp), 1) AS mean_systolic "
        "FROM read_parquet($uri) GROUP BY site ORDER BY site",
        {"uri": uri},
    )
    columns = [d[0] for d in cursor.description]
    return DemoResult(
        commit_id=commit.id,
        branch=experiment,
        uri=uri,
        columns=columns,
        rows=cursor.fetchall(),
    )
