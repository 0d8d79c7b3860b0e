"""Materializers: a lockfile's resources, read at their pinned commits and verified byte for
byte, turned into folders — ``files`` (the raw files), ``clinical-to-csv`` (the locked
subjects' table rows with the data dictionary), ``bids`` (a BIDS dataset) — or into any format a
plugin of the entry-point group ``vxp.materializers`` writes (docs/how-to/write-a-materializer.md).

    from vxp.datasets.materialize import materialize

    report = materialize([Path("resources.train.jsonl")], ["bids", "clinical-to-csv"], Path("out"))
"""

from .base import MaterializeContext, Materializer, MaterializerResult
from .lockfile import LockedFile, LockedResource, Lockfile, read_lockfiles
from .run import ENTRY_POINT_GROUP, MaterializeReport, available_materializers, materialize

__all__ = [
    "ENTRY_POINT_GROUP",
    "LockedFile",
    "LockedResource",
    "Lockfile",
    "MaterializeContext",
    "MaterializeReport",
    "Materializer",
    "MaterializerResult",
    "available_materializers",
    "materialize",
    "read_lockfiles",
]
