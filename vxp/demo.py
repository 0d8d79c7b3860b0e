"""The end-to-end demo job, also used by tests: ingest a Parquet file and query it at a commit."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import vxp_client
from vxp.core.home import Home
from vxp.core.settings import Settings
from vxp.domain.engines import duckdb as duck
from vxp.domain.engines.common import CatalogAccess
from vxp.domain.repositories import create_repository
from vxp.lakefs import Session


@dataclass(frozen=True)
class DemoResult:
    commit_id: str
    branch: str
    uri: str
    columns: list[str]
    rows: list[tuple[object, ...]]
    # the same data as an Iceberg table, read through the catalog at a snapshot tag
    tag: str
    table_commit_id: str
    table_columns: list[str]
    table_rows: list[tuple[object, ...]]


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
            secret=settings.lakefs_secret_access_key.reveal(),
            endpoint=settings.lakefs_endpoint,
        )
    )
    return conn


def run_demo(
    session: Session, settings: Settings, repository: str, say: Callable[[str], None]
) -> DemoResult:
    """Ingest a Parquet file into ``source``, branch, query it at the commit with DuckDB, then
    the same data as an Iceberg table merged into ``integration``, tagged and read at the tag."""
    if session.repository_exists(repository):
        say(f"• repository [bold]{repository}[/bold] exists")
    else:
        create_repository(session, repository, settings.storage_namespace_prefix)
        say(f"• created repository [bold]{repository}[/bold] (layers: source, integration)")

    run = uuid.uuid4().hex[:8]
    ingest = f"ingest-demo-{run}"
    session.create_branch(repository, ingest, "source")
    say(f"• cut ingestion branch [bold]{ingest}[/bold] from source")

    # one file per run: an ingestion adds data, it never rewrites what landed before
    path = f"raw/visits/run={run}/visits.parquet"
    data = parquet_bytes(sample_table())
    session.upload_object(repository, ingest, path, data)
    say(f"• uploaded {path} ({len(data)} bytes)")
    commit = session.commit(repository, ingest, "demo: ingest visits", {"vxp.run": run})
    say(f"• committed [bold]{commit}[/bold]")
    session.merge(repository, ingest, "source", f"merge {ingest} into source", {})
    session.delete_branch(repository, ingest)
    say("• merged into source (protected: merge-only) and removed the ingestion branch")

    experiment = f"exp-demo-{run}"
    session.create_branch(repository, experiment, commit)
    say(f"• branched [bold]{experiment}[/bold] from that commit (no data copied)")

    uri = f"s3://{repository}/{commit}/{path}"
    conn = duckdb_over_lakefs(settings, Home.from_env().cache)
    cursor = conn.execute(
        "SELECT site, count(*) AS visits, round(avg(systolic_bp), 1) AS mean_systolic "
        "FROM read_parquet($uri) GROUP BY site ORDER BY site",
        {"uri": uri},
    )
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    conn.close()

    tag, table_commit, table = _tables(session, settings, repository, run, say)
    return DemoResult(
        commit_id=commit,
        branch=experiment,
        uri=uri,
        columns=columns,
        rows=rows,
        tag=tag,
        table_commit_id=table_commit,
        table_columns=list(table.column_names),
        table_rows=[tuple(r.values()) for r in table.to_pylist()],
    )


def _tables(
    session: Session, settings: Settings, repository: str, run: str, say: Callable[[str], None]
) -> tuple[str, str, pa.Table]:
    """Flow the raw layer into integration, normalise the visits into an Iceberg table on a work
    branch, merge it into integration, tag that, and query the table at the tag."""
    session.merge(repository, "source", "integration", "merge source into integration", {})
    branch = f"tables-demo-{run}"
    session.create_branch(repository, branch, "integration")
    say(f"• merged source into integration; cut work branch [bold]{branch}[/bold] from it")
    catalog = CatalogAccess.from_settings(settings).pyiceberg(f"{repository}.{branch}")
    catalog.create_namespace_if_not_exists("trial")
    visits = sample_table()
    if catalog.table_exists("trial.visits"):
        catalog.load_table("trial.visits").overwrite(visits)
    else:
        catalog.create_table("trial.visits", schema=visits.schema).append(visits)
    say(f"• wrote Iceberg table trial.visits on {branch} ({visits.num_rows} rows, a lakeFS commit)")

    session.merge(repository, branch, "integration", f"merge {branch} into integration", {})
    session.delete_branch(repository, branch)
    tag = f"demo-{run}"
    head = session.create_tag(repository, tag, "integration")
    say(f"• merged into integration and tagged it [bold]{tag}[/bold] ({head[:12]})")

    with vxp_client.PlatformClient(repository, tag, settings=settings) as client:
        table = client.query(
            "SELECT site, count(*) AS visits, max(age) AS oldest FROM trial.visits "
            "GROUP BY site ORDER BY site"
        )
    return tag, head, table
