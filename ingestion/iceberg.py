"""Iceberg table writes of an ingestion run, through the vxp catalog at one branch (pyiceberg).

Every write is a catalog commit, which the catalog turns into a lakeFS commit on that branch;
the run's branch is merged into its layer as a whole, so readers of the layer see all of a run's
tables change at once or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa
import requests

from vxp.core.errors import Unavailable
from vxp.core.settings import Settings
from vxp.domain.engines.common import CatalogAccess

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = ["Tables", "catalog_reachable", "nullable"]

#: rows per Arrow chunk written in one go (bounds memory; all chunks form one Iceberg commit)
CHUNK_ROWS = 500_000


def nullable(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every field nullable: Iceberg columns of a delivery stay optional, so a
    later delivery that lacks a column can still be written (the column reads null)."""
    return pa.schema([f.with_nullable(True) for f in schema], metadata=schema.metadata)


@contextmanager
def catalog_reachable(settings: Settings) -> Iterator[None]:
    """Run the body; a catalog that cannot be reached becomes :class:`Unavailable`.

    pyiceberg's REST client talks to the catalog with ``requests`` (lakeFS is reached with
    httpx), so a refused or dropped connection surfaces as ``requests.ConnectionError`` or
    ``requests.Timeout``; the CLI's contract turns :class:`Unavailable` into exit code 4
    (``docs/reference/cli.md``) instead of a traceback.

    Args:
        settings: where the catalog is (its URI goes into the message).

    Raises:
        Unavailable: the body failed to connect to the catalog.
    """
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Unavailable(
            f"cannot reach the vxp catalog at {settings.catalog_uri} ({type(exc).__name__})",
            hint="check `vxp status`; `vxp up` restarts what died",
        ) from exc


class Tables:
    """The Iceberg tables of one repository at one branch, for a run's writes.

    Args:
        settings: where the catalog is.
        repository, branch: the ref-scoped warehouse ``<repository>.<branch>``.

    Raises:
        Unavailable: the catalog cannot be reached (its client fetches a token at once).
    """

    def __init__(self, settings: Settings, repository: str, branch: str) -> None:
        self.warehouse = f"{repository}.{branch}"
        with catalog_reachable(settings):
            self.catalog: Catalog = CatalogAccess.from_settings(settings).pyiceberg(self.warehouse)
        self._namespaces: set[str] = set()

    def exists(self, identifier: str) -> bool:
        return bool(self.catalog.table_exists(identifier))

    def load(self, identifier: str) -> Table:
        return self.catalog.load_table(identifier)

    def read(self, identifier: str) -> pa.Table | None:
        """Every row of the table, or None when it does not exist."""
        if not self.exists(identifier):
            return None
        return self.load(identifier).scan().to_arrow()

    def batches(self, identifier: str) -> pa.RecordBatchReader | None:
        """The table's rows as a stream of record batches, one data file at a time (memory: a
        file's rows, not the table's), or None when it does not exist.

        pyiceberg's own ``to_arrow_batch_reader`` hands every data file to its thread pool at
        once and keeps each file's batches until they are read: a table larger than memory
        ends up in memory (3 GB for a 15M-row history). Here its ``ArrowScan`` reads one
        file's task at a time, with the same projection (field ids, evolved columns as null).
        """
        from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow

        if not self.exists(identifier):
            return None
        scan = self.load(identifier).scan()
        projected = scan.projection()
        target = schema_to_pyarrow(projected)
        reader = ArrowScan(
            scan.table_metadata, scan.io, projected, scan.row_filter, scan.case_sensitive
        )

        def files() -> Iterator[pa.RecordBatch]:
            for task in scan.plan_files():
                yield from reader.to_record_batches([task])

        return pa.RecordBatchReader.from_batches(target, files()).cast(target)

    def _ensure_namespace(self, identifier: str) -> None:
        namespace = identifier.rsplit(".", 1)[0]
        if namespace not in self._namespaces:
            self.catalog.create_namespace_if_not_exists(namespace)
            self._namespaces.add(namespace)

    def _table_for(self, identifier: str, schema: pa.Schema) -> Table:
        """The table, created from ``schema`` or evolved to hold it (new columns added, types
        widened as Iceberg allows; columns the data lacks are kept)."""
        self._ensure_namespace(identifier)
        schema = nullable(schema)
        if not self.exists(identifier):
            return self.catalog.create_table(identifier, schema=schema)
        table = self.load(identifier)
        with table.update_schema() as update:
            update.union_by_name(schema)
        return self.load(identifier)

    def replace(self, identifier: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
        """Make the table hold exactly the rows of ``batches`` (streamed); the rows written.

        One Iceberg snapshot (an overwrite, or an append for a new table) whatever the number
        of chunks, so no reader sees a half-replaced table.
        """
        from pyiceberg.expressions import AlwaysTrue

        existed = self.exists(identifier)
        table = self._table_for(identifier, schema)
        rows = 0
        with table.transaction() as tx:
            # an existing table's rows go first (a delete that is part of this one commit); a
            # new table has none, and pyiceberg warns about deletes that match nothing
            if existed and table.current_snapshot() is not None:
                tx.delete(AlwaysTrue())
            for chunk in _chunks(batches, nullable(schema)):
                rows += chunk.num_rows
                tx.append(chunk)
        return rows

    def append(self, identifier: str, rows: pa.Table) -> None:
        """Append ``rows`` (one snapshot); creates the table from their schema if needed."""
        table = self._table_for(identifier, rows.schema)
        if rows.num_rows:
            table.append(rows.cast(nullable(rows.schema)))


def _chunks(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= CHUNK_ROWS:
            yield pa.Table.from_batches(pending).cast(schema)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending).cast(schema)
