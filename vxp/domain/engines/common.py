"""What both engines share: catalog names, the catalog's credentials, refs, query results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from vxp.core.errors import NotFound
from vxp.core.settings import Settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

# the name of the ref-scoped warehouse (``<repo>.<ref>``) in a `vxp sql` session
REF_CATALOG = "lake"


def repository_catalog(repository: str) -> str:
    """The catalog name of a repository-scoped warehouse: ``clinical-trials`` → ``clinical_trials``.

    The same in DuckDB and Trino, and an unquoted identifier in both; lakeFS repository names
    hold no ``_``, so two repositories never share a catalog name.
    """
    return repository.replace("-", "_")


@dataclass(frozen=True)
class CatalogAccess:
    """How a client reaches the vxp catalog: its URI and the lakeFS key pair as credential.

    The catalog takes the lakeFS key pair as OAuth2 client credentials (Iceberg REST spec,
    ``/v1/oauth/tokens``); ``repr`` hides the secret.
    """

    uri: str
    client_id: str
    client_secret: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogAccess:
        """The catalog of ``settings``; its credential is the lakeFS key pair.

        Raises:
            NotFound: no catalog URI is configured.
        """
        if not settings.catalog_uri:
            raise NotFound(
                "VXP_CATALOG_URI is not set: where is the vxp catalog?",
                hint='run `vxp up`, or `eval "$(vxp env)"` on the machine that runs the stack',
            )
        return cls(
            settings.catalog_uri,
            settings.lakefs_access_key_id,
            settings.lakefs_secret_access_key.reveal(),
        )

    def __repr__(self) -> str:
        return f"CatalogAccess(uri={self.uri!r}, client_id={self.client_id!r}, client_secret=***)"

    def pyiceberg(self, warehouse: str) -> Catalog:
        """A new pyiceberg REST client (its own HTTP session and token) for ``warehouse``.

        Args:
            warehouse: ``<repo>`` (repository-scoped) or ``<repo>.<ref>`` (ref-scoped).

        Raises:
            pyiceberg.exceptions.RESTError: the catalog refused (``OAuthError`` for a rejected key
                pair, ``BadRequestError`` for a malformed warehouse).
            requests.exceptions.ConnectionError: the catalog cannot be reached.
        """
        # imported here: pyiceberg is slow to import and most commands never need it
        from pyiceberg.catalog import load_catalog

        return load_catalog(
            "vxp",
            type="rest",
            uri=self.uri,
            credential=f"{self.client_id}:{self.client_secret}",
            warehouse=warehouse,
            # pyiceberg would guess this (with a deprecation warning)
            **{"oauth2-server-uri": f"{self.uri}/v1/oauth/tokens"},
        )


@dataclass(frozen=True)
class Result:
    """A statement's rows, and how long the engine took to produce them (without set-up).

    Attributes:
        table: the rows of the last statement; an empty table for statements without rows.
        seconds: wall-clock seconds of the statement alone (no connect or attach).
        written: how many rows the last statement wrote, when it was a write the engine counts
            (INSERT, CREATE TABLE … AS, UPDATE, DELETE, MERGE); None for a read or other DDL.
        statements: how many statements ``sql`` held.
    """

    table: pa.Table
    seconds: float
    written: int | None = None
    statements: int = 1
