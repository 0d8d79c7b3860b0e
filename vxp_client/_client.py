"""``PlatformClient``: one repository of the platform, read at one commit."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from vxp.core.errors import InvalidInput, NotFound, Unavailable, VxpError
from vxp.core.home import Home
from vxp.core.names import DEFAULT_BRANCH, validate_repository_name
from vxp.core.settings import Settings
from vxp.domain.refs import resolve
from vxp.lakefs import LakeFS

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from vxp.ingestion.resources import Resource, ResourceType

__all__ = ["PlatformClient"]


class PlatformClient:
    """A repository of the platform, pinned to the commit ``ref`` named when it was made.

    Every read of one client — SQL, tables, files — sees that one commit, even while the branch
    moves on; :attr:`commit` says which. Make a new client (or :meth:`at`) to read another
    version. Use it as a context manager, or call :meth:`close`::

        with vxp_client.PlatformClient("clinical", ref="v1") as client:
            table = client.query("SELECT site, count(*) FROM basel.patients GROUP BY site")

    Args:
        repository: the lakeFS repository (data domain), e.g. ``"clinical"``.
        ref: a branch, tag (snapshot), commit ID or ref expression (``integration~1``).
        settings: where the platform is; default :meth:`Settings.load` (the ``VXP_*``
            variables of ``vxp env``, else the stack ``vxp up`` started on this machine).

    Raises:
        NotFound: no platform is configured, or the repository or ref does not exist.
        Unavailable: lakeFS cannot be reached.
    """

    def __init__(
        self, repository: str, ref: str = DEFAULT_BRANCH, *, settings: Settings | None = None
    ) -> None:
        validate_repository_name(repository)
        self.repository = repository
        self.ref = ref
        self.settings = settings or Settings.load()
        self._lakefs = LakeFS(self.settings.lakefs_endpoint)
        self._session = self._lakefs.as_user(
            self.settings.lakefs_access_key_id, self.settings.lakefs_secret_access_key.reveal()
        )
        self._lock = threading.Lock()
        self._duckdb: duckdb.DuckDBPyConnection | None = None
        self._catalog: Catalog | None = None
        self._closed = False
        try:
            #: the commit ID every read of this client sees
            self.commit: str = resolve(self._session, repository, ref)
        except BaseException:
            self._lakefs.close()
            raise

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the DuckDB connection and the lakeFS connection pool; idempotent."""
        with self._lock:
            if self._duckdb is not None:
                self._duckdb.close()
                self._duckdb = None
            self._catalog = None
            self._lakefs.close()
            self._closed = True

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"PlatformClient(repository={self.repository!r}, ref={self.ref!r}, "
            f"commit={self.commit[:12]!r})"
        )

    def at(self, ref: str) -> PlatformClient:
        """A new client of the same repository and settings, pinned to ``ref``'s commit now.

        Raises:
            NotFound: no such ref.
        """
        return PlatformClient(self.repository, ref, settings=self.settings)

    # --- refs --------------------------------------------------------------------------------

    def branches(self) -> dict[str, str]:
        """The repository's branches: name → head commit ID (as of this call).

        Raises:
            VxpError: the client is closed.
        """
        self._check_open()
        return self._session.branch_heads(self.repository)

    def tags(self) -> dict[str, str]:
        """The repository's tags (snapshots): name → the commit ID each pins.

        Raises:
            VxpError: the client is closed.
        """
        self._check_open()
        return self._session.tag_commits(self.repository)

    def _check_open(self) -> None:
        if self._closed:
            raise VxpError("this PlatformClient is closed", hint="make a new one")

    # --- SQL and tables ----------------------------------------------------------------------

    def query(self, sql: str) -> pa.Table:
        """Run SQL with DuckDB at this client's commit; the last statement's rows.

        ``namespace.table`` names a table at :attr:`commit`;
        ``<repo>."<other ref>.<namespace>".<table>`` the same table at any other ref. One DuckDB
        connection serves every query of the client (extensions load once).

        Raises:
            InvalidInput: the statement is empty or DuckDB refused it (the message says why).
        """
        import duckdb
        import pyarrow as pa

        if not sql.strip():
            raise InvalidInput("the SQL statement is empty")
        with self._lock:
            conn = self._connection()
            try:
                relation = conn.execute(sql)
                table = relation.to_arrow_table() if relation.description else pa.table({})
            except duckdb.Error as exc:
                raise InvalidInput(
                    f"DuckDB: {exc}",
                    hint=f"the query ran at commit {self.commit[:12]} ({self.ref!r}) of "
                    f"{self.repository!r}",
                ) from exc
        # the result says which version it was read from (Arrow schema metadata)
        return table.replace_schema_metadata(
            {
                **(table.schema.metadata or {}),
                b"vxp.repository": self.repository.encode(),
                b"vxp.ref": self.ref.encode(),
                b"vxp.commit": self.commit.encode(),
            }
        )

    def table(self, name: str) -> Table:
        """The Iceberg table ``namespace.table`` at :attr:`commit`, as a pyiceberg ``Table``.

        Raises:
            NotFound: no such table at the commit.
        """
        from pyiceberg.exceptions import NoSuchTableError

        from vxp.core.errors import NotFound

        with self._lock:
            catalog = self._pyiceberg()
        try:
            return catalog.load_table(name)
        except NoSuchTableError as exc:
            raise NotFound(
                f"table {name!r} does not exist at commit {self.commit[:12]} ({self.ref!r}) "
                f"of {self.repository!r}"
            ) from exc

    # --- resources -----------------------------------------------------------------------

    def get_resource(self, id: str) -> Resource:
        """The resource ``id`` (e.g. ``"trial/basel/subject/P-7"``) as of :attr:`commit`: its
        current row of ``vxp.resources``.

        Raises:
            NotFound: no such resource at the commit (never ingested, or deleted by then).
        """
        found = self._resources("id = ?", [id])
        if not found:
            raise NotFound(
                f"no resource {id!r} at commit {self.commit[:12]} ({self.ref!r}) of "
                f"{self.repository!r}",
                hint="`vxp resources list --repo REPO` shows the ids",
            )
        return found[0]

    def resources(
        self, type: ResourceType | str | None = None, under: str | None = None
    ) -> list[Resource]:
        """The current resources at :attr:`commit`, sorted by id.

        Args:
            type: only this type (``ResourceType.DICOM_SERIES`` or ``"DICOMSeries"``).
            under: only the descendants of this id, at any depth (``"trial/basel/subject/P-7"``
                gives the subject's studies, their series, its volumes, documents, files).

        Raises:
            InvalidInput: ``type`` is not a resource type.
        """
        from vxp.ingestion.resources import ResourceType

        where, params = [], []
        if type is not None:
            try:
                where.append("type = ?")
                params.append(ResourceType(type).value)
            except ValueError as exc:
                raise InvalidInput(
                    f"{type!r} is not a resource type",
                    hint="one of " + ", ".join(t.value for t in ResourceType),
                ) from exc
        if under is not None:
            where.append("starts_with(id, ?)")
            params.append(under.rstrip("/") + "/")
        return self._resources(" AND ".join(where) or "true", params)

    def children(self, id: str) -> list[Resource]:
        """The resources one level below ``id`` (``parent_id = id``) at :attr:`commit`, sorted
        by id; empty for a resource without children or an unknown id."""
        return self._resources("parent_id = ?", [id])

    def open(self, resource_or_path: Resource | str) -> bytes:
        """The bytes of a resource, or of an object path, at :attr:`commit` (read whole: use it
        for headers, documents and single files, not for a 10 GB volume).

        A resource must be one file: a ``Volume``, ``Document`` or ``File``; its bytes are
        checked against its sha256. A ``DICOMSeries`` or ``DICOMStudy`` is one file per
        instance (whatever their number): open each of ``resource.paths``. A string argument is
        an object path, such as ``raw/basel/<run>/sub-01/mr/i1.dcm``, read as stored.

        Raises:
            InvalidInput: the resource is not one file (a trial, subject, visit, DICOM study or
                series).
            NotFound: no such object at the commit.
            VxpError: the object's bytes do not match the resource's checksum.
        """
        import hashlib

        from vxp.ingestion.resources import ResourceType

        if isinstance(resource_or_path, str):
            return self._object(resource_or_path)
        resource = resource_or_path
        single = (ResourceType.VOLUME, ResourceType.DOCUMENT, ResourceType.FILE)
        if resource.type not in single or len(resource.paths) != 1:
            raise InvalidInput(
                f"resource {resource.id!r} is a {resource.type}, not one file; open() reads "
                "a Volume, Document or File",
                hint="open each of its paths: [client.open(p) for p in resource.paths]"
                if resource.paths
                else "a trial, subject or visit has no bytes; its children() may",
            )
        data = self._object(resource.paths[0])
        if resource.checksum is not None and hashlib.sha256(data).hexdigest() != resource.checksum:
            raise VxpError(
                f"the bytes of {resource.paths[0]} at commit {self.commit[:12]} do not match the "
                f"checksum of resource {resource.id!r}",
                hint="the object store was changed behind lakeFS's back; report it",
            )
        return data

    def _object(self, path: str) -> bytes:
        data = self._session.get_object(self.repository, self.commit, path)
        if data is None:
            raise NotFound(
                f"no object {path!r} at commit {self.commit[:12]} ({self.ref!r}) of "
                f"{self.repository!r}",
                hint="pass a path such as raw/<source>/<run>/<file>, or a Resource",
            )
        return data

    def _resources(self, where: str, params: list[str]) -> list[Resource]:
        """Current rows of ``vxp.resources`` matching ``where`` (DuckDB SQL with ``?``
        parameters), as resources sorted by id; empty when the table does not exist."""
        import duckdb

        from vxp.ingestion.resources import Resource

        # `where` is built from fixed fragments only; values travel as parameters
        columns = "id, type, parent_id, source, attributes, paths, checksum, size_bytes, version"
        sql = f"SELECT {columns} FROM vxp.resources WHERE is_current AND ({where}) ORDER BY id"  # noqa: S608
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute(sql, params).to_arrow_table().to_pylist()
            except duckdb.CatalogException:
                # no resources ingested at this commit yet
                return []
            except duckdb.Error as exc:
                raise InvalidInput(f"DuckDB: {exc}") from exc
        return [Resource.from_row(row) for row in rows]

    def _connection(self) -> duckdb.DuckDBPyConnection:
        self._check_open()
        if self._duckdb is None:
            from vxp.domain.engines import duckdb as engine

            # the extensions' directory lives in the vxp cache: the one the settings name, else
            # this machine's
            extensions = self.settings.duckdb_extension_directory
            cache = extensions.parent if extensions is not None else Home.from_env().cache
            # the client runs its user's own SQL in the user's own process: the extensions'
            # signature check (most of a connection's ~1 s set-up) protects nothing here
            self._duckdb = engine.session(
                cache, self.settings, self.repository, self.commit, pinned=True, own_sql=True
            )
        return self._duckdb

    def _pyiceberg(self) -> Catalog:
        self._check_open()
        if self._catalog is None:
            from requests.exceptions import ConnectionError as RequestsConnectionError

            from vxp.domain.engines.common import CatalogAccess

            access = CatalogAccess.from_settings(self.settings)
            try:
                self._catalog = access.pyiceberg(f"{self.repository}.{self.commit}")
            except RequestsConnectionError as exc:
                raise Unavailable(
                    f"the vxp catalog at {access.uri} is unreachable",
                    hint="check `vxp status`; `vxp up` restarts what died",
                ) from exc
        return self._catalog
