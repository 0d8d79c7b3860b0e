"""The public Python API of vxp, the import name dataset recipes and notebooks use.

    import vxp_client

    with vxp_client.PlatformClient("clinical", ref="v1") as client:
        print(client.commit)  # every read of this client sees this one commit
        table = client.query("SELECT site, count(*) FROM basel.patients GROUP BY site")

A dataset recipe is a function of such a client, marked with
:func:`dataset_compilation_entrypoint`; :func:`split_by_subject` splits its resources without
leaking a subject into two splits (docs/tutorials/first-recipe.md).

Connection settings come from the ``VXP_*`` variables ``vxp env`` prints, else from the stack
``vxp up`` started on this machine. Errors are the classes below; catch :class:`VxpError` for all.
Importing this module loads neither the servers (FastAPI) nor the stack manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vxp.core.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServerError,
    Unauthorized,
    Unavailable,
    VxpError,
)
from vxp.core.settings import Settings
from vxp_client._client import PlatformClient
from vxp_client._recipes import Recipe, dataset_compilation_entrypoint
from vxp_client._splits import assign_split, split_by_subject, subject_of

if TYPE_CHECKING:
    from vxp.ingestion.resources import Resource, ResourceType

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PlatformClient",
    "PreconditionFailed",
    "Recipe",
    "Resource",
    "ResourceType",
    "ServerError",
    "Settings",
    "Unauthorized",
    "Unavailable",
    "VxpError",
    "assign_split",
    "dataset_compilation_entrypoint",
    "split_by_subject",
    "subject_of",
]


def __getattr__(name: str) -> Any:
    # the resource model needs pyarrow: loaded on first use, so `import vxp_client` stays fast
    if name in ("Resource", "ResourceType"):
        from vxp.ingestion import resources

        return getattr(resources, name)
    raise AttributeError(f"module 'vxp_client' has no attribute {name!r}")
