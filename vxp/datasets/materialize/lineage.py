"""OpenLineage run events of a materialization, kept next to its output
(``<output>/.vxp/lineage/<run id>.jsonl``) and emitted over HTTP when the OpenLineage client is
configured (its standard ``OPENLINEAGE_URL`` / ``OPENLINEAGE_CONFIG``).

Inputs are the locked resources as they are at their commit: dataset namespace
``vxp://<repository>`` (:func:`vxp.domain.lineage.dataset_namespace`, as ingestion names its
datasets), name the resource id, ``datasetVersion`` the lakeFS commit. Outputs are the
materializers' folders: namespace ``file://<host>``, name the absolute path (OpenLineage naming
spec, "Local file system").
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vxp.domain.lineage import JOB_NAMESPACE, PRODUCER, dataset_namespace

from .lockfile import LockedResource

__all__ = ["MaterializeLineage"]

#: the OpenLineage spec's schemas the events follow (spec 2-0-2, facets 1-0-1)
_RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_VERSION_FACET = (
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
    "#/$defs/DatasetVersionDatasetFacet"
)
_ERROR_FACET = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)


class MaterializeLineage:
    """The START and COMPLETE (or FAIL) events of one ``vxp materialize`` run.

    Args:
        resources: the locked resources (inputs).
        outputs: the folders written (one per materializer).
        job: the job name, ``materialize.<materializer>+<materializer>``.
    """

    def __init__(self, resources: Sequence[LockedResource], outputs: Sequence[Path], job: str):
        self.run_id = str(uuid.uuid4())
        self.job = job
        self.resources = resources
        self.outputs = [Path(p).absolute() for p in outputs]
        self.events: list[dict[str, Any]] = []

    def start(self) -> dict[str, Any]:
        """Record (and emit) the START event; the event as JSON."""
        return self._event("START", None)

    def complete(self) -> dict[str, Any]:
        """Record (and emit) the COMPLETE event; the event as JSON."""
        return self._event("COMPLETE", None)

    def fail(self, message: str) -> dict[str, Any]:
        """Record (and emit) the FAIL event with OpenLineage's ``errorMessage`` facet."""
        return self._event("FAIL", message)

    def _event(self, state: str, error: str | None) -> dict[str, Any]:
        # built as JSON by hand: with 10,000 inputs the library's attrs classes and serde took
        # a second per event; the library itself is only loaded to emit (when configured)
        version_facet = {
            "_producer": PRODUCER,
            "_schemaURL": _VERSION_FACET,
        }
        inputs = [
            {
                "namespace": dataset_namespace(resource.repository),
                "name": resource.id,
                "facets": {"version": {**version_facet, "datasetVersion": resource.commit}},
                "inputFacets": {},
            }
            for resource in self.resources
        ]
        host = socket.gethostname()
        outputs = [
            {"namespace": f"file://{host}", "name": str(path), "facets": {}, "outputFacets": {}}
            for path in self.outputs
        ]
        run_facets: dict[str, Any] = {}
        if error is not None:
            run_facets["errorMessage"] = {
                "_producer": PRODUCER,
                "_schemaURL": _ERROR_FACET,
                "message": error,
                "programmingLanguage": "python",
            }
        body: dict[str, Any] = {
            "eventType": state,
            "eventTime": datetime.now(UTC).isoformat(),
            "run": {"runId": self.run_id, "facets": run_facets},
            "job": {"namespace": JOB_NAMESPACE, "name": self.job, "facets": {}},
            "inputs": inputs,
            "outputs": outputs,
            "producer": PRODUCER,
            "schemaURL": _RUN_EVENT,
        }
        self.events.append(body)
        _emit(body)
        return body

    def write(self, folder: Path) -> Path:
        """Write the events so far to ``folder/<run id>.jsonl``, one JSON object per line."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.run_id}.jsonl"
        path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in self.events))
        return path


def _emit(body: dict[str, Any]) -> None:
    # as vxp.domain.lineage does: only with the library's own standard configuration, and a
    # lineage server that is down never fails the run (the file next to the output is the record)
    if not (os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG")):
        return
    with contextlib.suppress(Exception):
        from openlineage.client import OpenLineageClient, event_v2, facet_v2

        def dataset(kind: Any, item: dict[str, Any]) -> Any:
            version = item["facets"].get("version")
            facets = (
                {
                    "version": facet_v2.dataset_version_dataset.DatasetVersionDatasetFacet(
                        datasetVersion=version["datasetVersion"]
                    )
                }
                if version
                else {}
            )
            return kind(namespace=item["namespace"], name=item["name"], facets=facets)

        event = event_v2.RunEvent(
            eventType=event_v2.RunState[body["eventType"]],
            eventTime=body["eventTime"],
            run=event_v2.Run(runId=body["run"]["runId"]),
            job=event_v2.Job(namespace=body["job"]["namespace"], name=body["job"]["name"]),
            producer=body["producer"],
            inputs=[dataset(event_v2.InputDataset, i) for i in body["inputs"]],
            outputs=[dataset(event_v2.OutputDataset, o) for o in body["outputs"]],
        )
        OpenLineageClient().emit(event)
