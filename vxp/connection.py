"""Connection settings for clients: from the environment (``vxp env``), else the local stack."""

from __future__ import annotations

import os
from dataclasses import dataclass

import lakefs_sdk

from vxp.errors import VxpError


@dataclass(frozen=True)
class Settings:
    """Where and how a client reaches the platform."""

    lakefs_endpoint: str
    lakefs_access_key_id: str
    lakefs_secret_access_key: str
    storage_namespace_prefix: str
    values: dict[str, str]

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> Settings:
        missing = [
            key
            for key in ("LAKEFS_ENDPOINT", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY")
            if not values.get(key)
        ]
        if missing:
            raise VxpError(f"missing connection settings: {', '.join(missing)}")
        return cls(
            lakefs_endpoint=values["LAKEFS_ENDPOINT"].rstrip("/"),
            lakefs_access_key_id=values["LAKEFS_ACCESS_KEY_ID"],
            lakefs_secret_access_key=values["LAKEFS_SECRET_ACCESS_KEY"],
            storage_namespace_prefix=values.get("VXP_STORAGE_NAMESPACE_PREFIX", "local://"),
            values=values,
        )

    @classmethod
    def discover(cls) -> Settings:
        """``LAKEFS_*`` variables if set (a remote platform), else the stack ``vxp up`` started."""
        if os.environ.get("LAKEFS_ENDPOINT"):
            return cls.from_mapping(dict(os.environ))
        from vxp.services.manager import ServiceManager

        return cls.from_mapping(ServiceManager().env())

    def lakefs(self) -> lakefs_sdk.ApiClient:
        config = lakefs_sdk.Configuration(
            host=f"{self.lakefs_endpoint}/api/v1",
            username=self.lakefs_access_key_id,
            password=self.lakefs_secret_access_key,
        )
        return lakefs_sdk.ApiClient(config)
