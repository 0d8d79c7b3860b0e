"""Lineage: OpenLineage run events of a run, kept with the data under ``_vxp/lineage/<run>.jsonl``
(DESIGN.md, "What a ref holds"), optionally sent over HTTP, and read back as a table's upstream.

Events are built with ``openlineage-python`` (the OpenLineage spec's own client). Datasets are
named ``vxp://<repository>`` / ``<namespace>.<table>`` for tables and
``vxp://<repository>`` / ``raw/<source>/<run>/<path>`` for delivered files; a file's sha256 and
a table's lakeFS commit are its ``datasetVersion`` facet. When the library's standard
configuration is present (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, …) events are also
emitted with its client; without it nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vxp.core.errors import InvalidInput, NotFound
from vxp.core.layout import LINEAGE
from vxp.lakefs import Session

__all__ = [
    "FileInput",
    "LineageGraph",
    "RunLineage",
    "TableOutput",
    "dataset_namespace",
    "read_events",
    "upstream",
]

PRODUCER = "https://github.com/vxp-data/vxp"
JOB_NAMESPACE = "vxp"


def dataset_namespace(repository: str) -> str:
    """The OpenLineage dataset namespace of a repository's tables and files."""
    return f"vxp://{repository}"


@dataclass(frozen=True)
class FileInput:
    """A delivered file a run read.

    Attributes:
        path: its path in the ref (``raw/<source>/<run>/<relative path>``).
        sha256: its content's SHA-256, hex; OpenLineage's ``datasetVersion``.
        size: its size in bytes.
    """

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class TableOutput:
    """A table a run wrote: ``namespace.table``, its columns (name, type), rows changed."""

    table: str
    columns: tuple[tuple[str, str], ...]
    rows: int | None = None


@dataclass
class RunLineage:
    """The OpenLineage events of one run, built as the run goes.

    Args:
        repository: the lakeFS repository.
        job: the job name, e.g. ``ingest-study.basel``.
        run_id: a UUID for OpenLineage (derived from the vxp run id so it is stable).
    """

    repository: str
    job: str
    run_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    #: the vxp run id (``vxp ingest list``, ``--ci``), kept in the events' ``vxp_run`` run facet
    vxp_run: str | None = None

    @classmethod
    def for_run(cls, repository: str, job: str, run: str) -> RunLineage:
        """Lineage of vxp run ``run``; the OpenLineage run id is a UUID5 of it."""
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vxp:{job}:{run}"))
        return cls(repository, job, run_id, vxp_run=run)

    def start(self, inputs: Sequence[FileInput]) -> dict[str, Any]:
        """Record the run's START event (OpenLineage spec, ``RunEvent``) with its input files.

        Returns:
            The event as JSON, also appended to :attr:`events` and emitted when configured.
        """
        return self._event("START", inputs, (), None)

    def complete(
        self, inputs: Sequence[FileInput], outputs: Sequence[TableOutput], commit: str | None
    ) -> dict[str, Any]:
        """Record the run's COMPLETE event: what it read, what it wrote and the commit it wrote.

        Args:
            commit: the lakeFS commit that holds the outputs: each output's ``datasetVersion``.

        Returns:
            The event as JSON, also appended to :attr:`events` and emitted when configured.
        """
        return self._event("COMPLETE", inputs, outputs, commit)

    def fail(self, inputs: Sequence[FileInput], message: str) -> dict[str, Any]:
        """Record the run's FAIL event with OpenLineage's ``errorMessage`` run facet.

        Returns:
            The event as JSON, also appended to :attr:`events` and emitted when configured.
        """
        event = self._event("FAIL", inputs, (), None)
        event["run"]["facets"]["errorMessage"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
            "message": message,
            "programmingLanguage": "python",
        }
        return event

    def _event(
        self,
        state: str,
        inputs: Sequence[FileInput],
        outputs: Sequence[TableOutput],
        commit: str | None,
    ) -> dict[str, Any]:
        from openlineage.client import event_v2, facet_v2
        from openlineage.client.serde import Serde

        namespace = dataset_namespace(self.repository)
        input_datasets = [
            event_v2.InputDataset(
                namespace=namespace,
                name=file.path,
                facets={
                    "version": facet_v2.dataset_version_dataset.DatasetVersionDatasetFacet(
                        datasetVersion=file.sha256
                    )
                },
            )
            for file in inputs
        ]
        output_datasets = [
            event_v2.OutputDataset(
                namespace=namespace,
                name=table.table,
                facets={
                    "schema": facet_v2.schema_dataset.SchemaDatasetFacet(
                        fields=[
                            facet_v2.schema_dataset.SchemaDatasetFacetFields(name=n, type=t)
                            for n, t in table.columns
                        ]
                    ),
                    **(
                        {
                            "version": facet_v2.dataset_version_dataset.DatasetVersionDatasetFacet(
                                datasetVersion=commit
                            )
                        }
                        if commit
                        else {}
                    ),
                },
                outputFacets=(
                    {
                        "outputStatistics": facet_v2.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(  # noqa: E501
                            rowCount=table.rows
                        )
                    }
                    if table.rows is not None
                    else {}
                ),
            )
            for table in outputs
        ]
        event = event_v2.RunEvent(
            eventType=event_v2.RunState[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=event_v2.Run(runId=self.run_id),
            job=event_v2.Job(namespace=JOB_NAMESPACE, name=self.job),
            producer=PRODUCER,
            inputs=input_datasets,
            outputs=output_datasets,
        )
        body: dict[str, Any] = json.loads(Serde.to_json(event))
        facets = body.setdefault("run", {}).setdefault("facets", {})
        if self.vxp_run is not None:
            # a custom run facet (OpenLineage spec, "Custom Facets"): the id users see
            facets["vxp_run"] = {
                "_producer": PRODUCER,
                "_schemaURL": f"{PRODUCER}/blob/main/docs/reference/ingestion.md#lineage",
                "run": self.vxp_run,
            }
        self.events.append(body)
        _emit(event)
        return body

    def to_jsonl(self) -> bytes:
        """The events, one JSON object per line (the ``_vxp/lineage/<run>.jsonl`` format)."""
        return "".join(json.dumps(e, sort_keys=True) + "\n" for e in self.events).encode()


def _emit(event: Any) -> None:
    """Send ``event`` with the library's own client when it is configured by its standard
    environment; never fails the run (lineage over HTTP is best effort, the ref copy is not)."""
    if not (os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG")):
        return
    from openlineage.client import OpenLineageClient

    # a lineage server being down must not fail a run; the copy in the ref is the record
    with contextlib.suppress(Exception):
        OpenLineageClient().emit(event)


def read_events(session: Session, repo: str, ref: str) -> list[dict[str, Any]]:
    """Every lineage event committed at ``ref`` (``_vxp/lineage/*.jsonl``), oldest first.

    Raises:
        ValueError: a line of a ``.jsonl`` file is not JSON (``json.JSONDecodeError``).
        LakeFSNotFound: no such repository or ref.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    events: list[dict[str, Any]] = []
    for entry in session.list_objects(repo, ref, LINEAGE + "/", delimiter=""):
        if not entry.path.endswith(".jsonl"):
            continue
        raw = session.get_object(repo, ref, entry.path) or b""
        events.extend(json.loads(line) for line in raw.decode().splitlines() if line.strip())
    return sorted(events, key=lambda e: str(e.get("eventTime", "")))


@dataclass(frozen=True)
class LineageGraph:
    """A table's upstream: edges ``(from, to)`` between datasets and runs (jobs)."""

    table: str
    nodes: Mapping[str, str]  # node → kind: table, file, run
    edges: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        """``{"table", "nodes": [{"id", "kind"}], "edges": [{"from", "to"}]}``."""
        return {
            "table": self.table,
            "nodes": [{"id": n, "kind": k} for n, k in sorted(self.nodes.items())],
            "edges": [{"from": a, "to": b} for a, b in self.edges],
        }

    def to_dot(self) -> str:
        """The graph in Graphviz DOT: tables as boxes, files as notes, runs as ellipses."""
        shapes = {"table": "box", "file": "note", "run": "ellipse"}
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node, kind in sorted(self.nodes.items()):
            lines.append(f"  {json.dumps(node)} [shape={shapes.get(kind, 'box')}];")
        lines += [f"  {json.dumps(a)} -> {json.dumps(b)};" for a, b in self.edges]
        lines.append("}")
        return "\n".join(lines) + "\n"


def upstream(events: Iterable[Mapping[str, Any]], table: str) -> LineageGraph:
    """The runs that wrote ``table`` and, recursively, what they read.

    Only COMPLETE events count: a failed run wrote nothing that stayed.

    Raises:
        InvalidInput: ``table`` is not ``namespace.table``.
        NotFound: no completed run wrote ``table``.
        KeyError: a completed event that wrote it lacks ``job.name`` or ``run.runId``.
    """
    if "." not in table:
        raise InvalidInput(f"{table!r} is not namespace.table", hint="e.g. basel.dm")
    completed = [e for e in events if e.get("eventType") == "COMPLETE"]
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    pending = [table]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for event in completed:
            if not any(o.get("name") == current for o in event.get("outputs", ())):
                continue
            facet = event["run"].get("facets", {}).get("vxp_run", {})
            run = f"{event['job']['name']} run {facet.get('run') or event['run']['runId'][:8]}"
            nodes[current] = "table"
            nodes[run] = "run"
            edges.append((run, current))
            for dataset in event.get("inputs", ()):
                name = str(dataset.get("name"))
                nodes.setdefault(name, "table" if not name.startswith("raw/") else "file")
                edges.append((name, run))
                pending.append(name)
    if table not in nodes:
        raise NotFound(f"no run at this ref wrote {table!r}", hint="`vxp tables list` shows them")
    return LineageGraph(table, nodes, tuple(dict.fromkeys(edges)))
