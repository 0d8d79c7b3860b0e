"""Keys of lakeFS commit metadata that vxp writes and reads (one spelling, one meaning).

The catalog writes the ``vxp.catalog.*`` keys on every table, view and namespace commit; ``vxp log``
reads them. Users may not write reserved keys (:data:`RESERVED_PREFIXES`) by hand: a hand-made
commit claiming them would make ``vxp log`` describe table changes that never happened.
"""

from __future__ import annotations

__all__ = [
    "CATALOG_ACTION",
    "CATALOG_CALLER",
    "CATALOG_CHANGES",
    "CATALOG_NAMESPACE",
    "CATALOG_PURGE_REQUESTED",
    "CATALOG_TABLES",
    "CATALOG_VIEWS",
    "RESERVED_PREFIXES",
]

#: create-table, commit-table, drop-table, rename-table, create-namespace, … (what the commit did)
CATALOG_ACTION = "vxp.catalog.action"
#: the lakeFS user ID of the caller the catalog committed for
CATALOG_CALLER = "vxp.catalog.caller"
#: JSON list of per-table entries: table (levels), snapshot-id, operation
CATALOG_CHANGES = "vxp.catalog.changes"
#: the dotted namespace of a namespace commit
CATALOG_NAMESPACE = "vxp.catalog.namespace"
#: "true" when a drop asked for purge (vxp never purges: only `vxp gc` deletes files)
CATALOG_PURGE_REQUESTED = "vxp.catalog.purge-requested"
#: comma-separated dotted names of the tables (or views) a commit touched
CATALOG_TABLES = "vxp.catalog.tables"
CATALOG_VIEWS = "vxp.catalog.views"

RESERVED_PREFIXES = ("vxp.catalog.", "vxp.merge.", ".lakefs.")
