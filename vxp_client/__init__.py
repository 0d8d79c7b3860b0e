"""The public Python API of vxp, the import name dataset recipes and notebooks use.

    import vxp_client

    with vxp_client.PlatformClient("clinical", ref="v1") as client:
        print(client.commit)  # every read of this client sees this one commit
        table = client.query("SELECT site, count(*) FROM basel.patients GROUP BY site")

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
    "Resource",
    "ResourceType",
    "ServerError",
    "Settings",
    "Unauthorized",
    "Unavailable",
    "VxpError",
]


def __getattr__(name: str) -> Any:
    # the resource model needs pyarrow: loaded on first use, so `import vxp_client` stays fast
    if name in ("Resource", "ResourceType"):
        from vxp.ingestion import resources

        return getattr(resources, name)
    raise AttributeError(f"module 'vxp_client' has no attribute {name!r}")
