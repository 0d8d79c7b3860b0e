"""What both engines share: catalog names, the catalog's credentials, refs, query results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import lakefs_sdk
import pyarrow as pa
from lakefs_sdk.exceptions import ApiException, NotFoundException

from vxp.connection import Settings
from vxp.errors import VxpError
from vxp.versioning import api_error

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
    """How a client reaches the vxp catalog: its URI and the lakeFS key pair as credential."""

    uri: str
    client_id: str
    client_secret: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogAccess:
        uri = settings.values.get("VXP_CATALOG_URI")
        credential = settings.values.get("VXP_CATALOG_CREDENTIAL")
        if not uri:
            raise VxpError(
                "VXP_CATALOG_URI is not set: where is the vxp catalog?",
                hint='run `vxp up`, or `eval "$(vxp env)"` on the machine that runs the stack',
            )
        client_id, _, client_secret = (credential or "").partition(":")
        if not client_secret:
            # the catalog's credential is the lakeFS key pair
            client_id = settings.lakefs_access_key_id
            client_secret = settings.lakefs_secret_access_key
        return cls(uri.rstrip("/"), client_id, client_secret)

    def pyiceberg(self, warehouse: str) -> Catalog:
        """A new pyiceberg REST client (its own HTTP session and token) for ``warehouse``."""
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


def resolve_ref(settings: Settings, repository: str, ref: str) -> str:
    """The commit ID of ``ref`` (branch, tag or commit); a clear error when either is unknown."""
    client = settings.lakefs()
    try:
        return str(lakefs_sdk.CommitsApi(client).get_commit(repository, ref).id)
    except NotFoundException as exc:
        try:
            lakefs_sdk.RepositoriesApi(client).get_repository(repository)
        except NotFoundException:
            raise VxpError(
                f"repository {repository!r} does not exist",
                hint="pass --repo NAME (or set VXP_REPO); create one with `vxp repo create NAME`",
            ) from exc
        except ApiException as inner:
            raise api_error(inner, f"could not read repository {repository!r}") from inner
        raise VxpError(
            f"ref {ref!r} does not exist in repository {repository!r}",
            hint="a ref is a branch, a tag (snapshot) or a commit ID",
        ) from exc
    except ApiException as exc:
        raise api_error(exc, f"could not resolve ref {ref!r} in {repository!r}") from exc


@dataclass(frozen=True)
class Result:
    """A statement's rows, and how long the engine took to produce them (without set-up)."""

    table: pa.Table
    seconds: float
