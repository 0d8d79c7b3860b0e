"""The hooks server's settings, from ``VXP_HOOKS_*`` and the client's ``VXP_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vxp.core.home import Home
from vxp.core.settings import Key
from vxp.core.settings import Settings as ClientSettings

__all__ = ["SECRET", "Settings", "SettingsError"]

SECRET = "VXP_HOOKS_SECRET"  # noqa: S105 - a variable's name
PUBLIC_URL = "VXP_HOOKS_PUBLIC_URL"
RECORDS = "VXP_HOOKS_RECORDS"


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """What the hooks server needs.

    Attributes:
        secret: the installation's hooks secret: lakeFS sends it as a bearer token (from its
            ``LAKEFSACTION_VXP_HOOKS_SECRET``), and it signs the records.
        public_url: where lakeFS reaches this server (the action's webhook URL is built on it).
        records: the directory of signed records (only this server writes it).
        client: lakeFS, catalog and S3 settings the checks read with (an admin key pair).
        cache: the vxp cache with DuckDB's extensions.
    """

    secret: str = field(repr=False)
    public_url: str
    records: Path
    client: ClientSettings
    cache: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``VXP_HOOKS_SECRET``, ``VXP_HOOKS_PUBLIC_URL``, ``VXP_HOOKS_RECORDS``, the
        ``VXP_LAKEFS_*``, ``VXP_CATALOG_URI`` and ``VXP_S3_*`` variables, and ``VXP_CACHE``.

        Raises:
            SettingsError: a required variable is missing.
            InvalidInput: the lakeFS settings are incomplete.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in (SECRET, PUBLIC_URL, RECORDS) if not env.get(name)]
        if missing:
            raise SettingsError(f"missing {', '.join(missing)}")
        client = ClientSettings.from_values(
            {key.value: env[key.value] for key in Key if env.get(key.value)}, origin="environment"
        )
        return cls(
            secret=env[SECRET],
            public_url=env[PUBLIC_URL].rstrip("/"),
            records=Path(env[RECORDS]),
            client=client,
            cache=Home.from_env(env).cache,
        )
