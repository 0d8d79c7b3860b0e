"""Trino over the vxp catalog: one Trino catalog per repository, created on demand.

Every repository ``clinical`` is the Trino catalog ``clinical``, bound to the repository-scoped
warehouse: the first schema level is the ref, so any branch, tag or commit is addressable from one
catalog (``clinical."integration.basel".patients``). Trino runs with dynamic catalog management
and vxp creates these catalogs when Trino starts (one per existing repository) and whenever a
command needs one, so a new repository never needs a Trino restart.

``vxp sql --engine trino --ref REF`` also creates a ref-scoped catalog (warehouse
``<repo>.<ref>``) and makes it the session catalog, so the SQL users type at ``--ref`` is the
same for DuckDB and Trino: ``SELECT * FROM basel.patients``. A ref's catalog is reused by later
queries at that ref; once more than :data:`MAX_REF_CATALOGS` exist, the others are dropped
(recreated when next needed), so a long-running Trino does not grow one catalog per ref ever
queried.

Catalog properties name no address and no secret: they are ``${ENV:…}`` references Trino
resolves from its own process environment (set by the stack or compose, not by ``vxp env``),
so the ``CREATE CATALOG`` statements Trino logs and shows in its web UI hold no credentials,
and the catalog files Trino keeps survive restarts on other ports.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from contextlib import closing
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vxp.core.errors import VxpError
from vxp.domain.engines.common import Result, repository_catalog

if TYPE_CHECKING:
    from trino.dbapi import Connection

# The variables the catalog properties reference; the Trino process's environment provides them
# (Trino.environment, compose); they are not the names ``vxp env`` prints.
CATALOG_ENV = ("VXP_CATALOG_URI", "VXP_CATALOG_CREDENTIAL")
S3_ENV = ("VXP_S3_ENDPOINT", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# ref-scoped catalogs carry this prefix, so the service manager can drop them at a restart
REF_CATALOG_PREFIX = "vxp_ref_"
# a Trino user name for queries vxp runs (Trino here has no authentication)
USER = "vxp"
# ref-scoped catalogs kept for reuse; creating one costs Trino a connector, dropping one is cheap
MAX_REF_CATALOGS = 8


def ref_catalog(repository: str, ref: str) -> str:
    """The ref-scoped catalog ``vxp sql`` uses for ``ref`` of ``repository``.

    Trino lower-cases catalog names and branch names are case-sensitive, so the name ends in a
    hash of the exact repository and ref; the readable part is for people reading SHOW CATALOGS.
    """
    digest = hashlib.sha256(f"{repository}\n{ref}".encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9]+", "_", ref.lower())[:24].strip("_")
    return f"{REF_CATALOG_PREFIX}{repository_catalog(repository)}_{readable}_{digest}"


def catalog_properties(warehouse: str) -> dict[str, str]:
    """Iceberg connector properties for one warehouse of the vxp catalog (no ``connector.name``).

    Table files are read from S3 directly; the catalog's vended credentials carry no endpoint in
    Trino 476, so the endpoint and keys are static (from Trino's environment).
    """
    repo_scoped = "." not in warehouse
    return {
        "iceberg.catalog.type": "rest",
        "iceberg.rest-catalog.uri": "${ENV:VXP_CATALOG_URI}",
        "iceberg.rest-catalog.warehouse": warehouse,
        "iceberg.rest-catalog.security": "OAUTH2",
        "iceberg.rest-catalog.oauth2.credential": "${ENV:VXP_CATALOG_CREDENTIAL}",
        # one token per user session, refreshed before it expires (a token exchange with the
        # catalog token as actor); NONE, the default, fetches a new token for every REST call
        "iceberg.rest-catalog.session": "USER",
        # repository-scoped: the ref is the first level (`clinical."integration.basel".t`)
        "iceberg.rest-catalog.nested-namespace-enabled": str(repo_scoped).lower(),
        "fs.native-s3.enabled": "true",
        "s3.endpoint": "${ENV:VXP_S3_ENDPOINT}",
        # MinIO serves buckets by path, not by virtual host
        "s3.path-style-access": "true",
        "s3.region": "${ENV:AWS_REGION}",
        "s3.aws-access-key": "${ENV:AWS_ACCESS_KEY_ID}",
        "s3.aws-secret-key": "${ENV:AWS_SECRET_ACCESS_KEY}",
    }


# a Java properties line: the key runs to the first unescaped `=` or `:`
_PROPERTY = re.compile(r"((?:[^\\=:]|\\.)*)[=:](.*)$")
_ESCAPE = re.compile(r"\\(.)")


def read_catalog_file(text: str) -> dict[str, str]:
    """The properties of a catalog file Trino's file store wrote (Java properties: ``key=value``
    lines, ``#`` comments, ``\\:`` escapes)."""
    properties: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        match = _PROPERTY.match(line)
        key, value = (match.group(1), match.group(2)) if match else (line, "")
        properties[_ESCAPE.sub(r"\1", key.strip())] = _ESCAPE.sub(r"\1", value.strip())
    return properties


def outdated_catalog(properties: Mapping[str, str]) -> bool:
    """True when a catalog file vxp made (it names ``${ENV:VXP_CATALOG_URI}``) holds other
    properties than :func:`catalog_properties` gives today: it must be made again (a restart of
    Trino keeps catalog files, so a changed property would otherwise never reach them)."""
    if properties.get("iceberg.rest-catalog.uri") != "${ENV:VXP_CATALOG_URI}":
        return False
    warehouse = properties.get("iceberg.rest-catalog.warehouse", "")
    made = {k: v for k, v in properties.items() if k != "connector.name"}
    return made != catalog_properties(warehouse)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_catalog_sql(name: str, warehouse: str) -> str:
    """``CREATE CATALOG IF NOT EXISTS`` for ``warehouse``: racing callers are fine."""
    props = ", ".join(
        f"{_identifier(key)} = {_literal(value)}"
        for key, value in catalog_properties(warehouse).items()
    )
    return f"CREATE CATALOG IF NOT EXISTS {_identifier(name)} USING iceberg WITH ({props})"


def connect(url: str, catalog: str | None = None) -> Connection:
    """A Trino DB-API connection to ``url`` (``http://host:port``), optionally in ``catalog``.

    No request is made until the first statement.

    Raises:
        VxpError: the Trino client (the ``full`` extra) is not installed.
        ValueError: the port in ``url`` is not a number.
    """
    try:
        import trino
    except ImportError as exc:
        raise VxpError("the Trino client is not installed", hint="pip install 'vxp[full]'") from exc
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rstrip("/").partition(":")
    conn: Connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=host,
        port=int(port or (443 if scheme == "https" else 80)),
        http_scheme=scheme,
        user=USER,
        catalog=catalog,
        source="vxp",
    )
    return conn


def catalogs(conn: Connection) -> set[str]:
    """The names of Trino's catalogs (``SHOW CATALOGS``).

    Raises:
        trino.exceptions.TrinoQueryError: Trino refused the statement.
        trino.exceptions.HttpError: Trino answered with an HTTP error (503 while starting).
        requests.exceptions.RequestException: Trino cannot be reached.
    """
    cur = conn.cursor()
    cur.execute("SHOW CATALOGS")
    return {str(row[0]) for row in cur.fetchall()}


def ensure_catalog(conn: Connection, name: str, warehouse: str, known: set[str]) -> None:
    """Create catalog ``name`` for ``warehouse`` unless ``known`` (from :func:`catalogs`) has it.

    Adds ``name`` to ``known``.

    Raises:
        trino.exceptions.TrinoQueryError: Trino refused the statement.
        trino.exceptions.HttpError: Trino answered with an HTTP error.
        requests.exceptions.RequestException: Trino cannot be reached.
    """
    if name in known:
        return
    cur = conn.cursor()
    cur.execute(create_catalog_sql(name, warehouse))
    cur.fetchall()
    known.add(name)


def stale_ref_catalogs(known: set[str], keep: str, limit: int = MAX_REF_CATALOGS) -> list[str]:
    """The ref-scoped catalogs to drop so that at most ``limit`` remain, ``keep`` among them.

    Which others stay is arbitrary but stable (name order): Trino records no last use, and a
    dropped catalog costs only its re-creation at the next query of its ref.
    """
    others = sorted(n for n in known if n.startswith(REF_CATALOG_PREFIX) and n != keep)
    # ``keep`` takes one place, whether it exists yet or is about to
    return others[max(0, limit - 1) :]


def drop_catalogs(conn: Connection, names: list[str], known: set[str]) -> None:
    """``DROP CATALOG IF EXISTS`` each of ``names``; removes them from ``known``.

    Raises:
        trino.exceptions.TrinoQueryError: Trino refused a statement.
        trino.exceptions.HttpError: Trino answered with an HTTP error.
        requests.exceptions.RequestException: Trino cannot be reached.
    """
    cur = conn.cursor()
    for name in names:
        cur.execute(f"DROP CATALOG IF EXISTS {_identifier(name)}")
        cur.fetchall()
        known.discard(name)


def ensure_repository_catalogs(url: str, repositories: list[str]) -> None:
    """The repository-scoped catalog of each repository (what Trino's start-up sync calls).

    Raises:
        VxpError: the Trino client is not installed.
        trino.exceptions.TrinoQueryError: Trino refused a statement.
        trino.exceptions.HttpError: Trino answered with an HTTP error.
        requests.exceptions.RequestException: Trino cannot be reached.
    """
    with closing(connect(url)) as conn:
        known = catalogs(conn)
        for repo in repositories:
            ensure_catalog(conn, repository_catalog(repo), repo, known)


# Trino's scalar types and their Arrow types; parametrised and nested ones are parsed below
_SCALARS: Mapping[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double": pa.float64(),
    "varchar": pa.string(),
    "char": pa.string(),
    "uuid": pa.string(),
    "json": pa.string(),
    "varbinary": pa.binary(),
    "date": pa.date32(),
}
_FIELD = re.compile(r'^(?:"((?:[^"]|"")*)"|(\w+))\s+(.+)$', re.DOTALL)


def _split(args: str) -> list[str]:
    """Split a type's argument list at top-level commas (not inside parentheses or quotes)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(args):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(args[start:i].strip())
            start = i + 1
    parts.append(args[start:].strip())
    return parts


def arrow_type(trino_type: str) -> pa.DataType | None:
    """The Arrow type for a Trino type signature (``row(a integer, b array(varchar))``).

    None for types Arrow has no counterpart for here (intervals, IP addresses, geometry, …):
    their values are left to Arrow's inference. Timestamps become microsecond timestamps,
    UTC when zoned (the client returns Python datetimes).
    """
    text = trino_type.strip()
    base, paren, rest = text.partition("(")
    if not paren:
        return _SCALARS.get(text)
    args, suffix = rest[: rest.rfind(")")], rest[rest.rfind(")") + 1 :].strip()
    if base == "timestamp":
        # the client returns datetimes, which hold microseconds
        zoned = suffix == "with time zone"
        return pa.timestamp("us", tz="UTC" if zoned else None)
    if suffix:
        return None
    if base == "time":
        return pa.time64("us")
    if base in ("varchar", "char"):
        return pa.string()
    if base == "decimal":
        precision, _, scale = args.partition(",")
        return pa.decimal128(int(precision), int(scale or 0))
    if base == "array":
        item = arrow_type(args)
        return pa.list_(item) if item is not None else None
    if base == "map":
        key, value = (arrow_type(part) for part in _split(args))
        return pa.map_(key, value) if key is not None and value is not None else None
    if base == "row":
        fields = []
        for index, part in enumerate(_split(args)):
            match = _FIELD.match(part)
            if match and arrow_type(match.group(3)) is not None:
                name = match.group(1).replace('""', '"') if match.group(1) else match.group(2)
                field_type = arrow_type(match.group(3))
            else:  # an anonymous field
                name, field_type = f"field{index + 1}", arrow_type(part)
            if field_type is None:
                return None
            fields.append(pa.field(name, field_type))
        return pa.struct(fields)
    return None


def _arrow_value(value: Any, target: pa.DataType) -> Any:
    """A client value in the shape Arrow builds ``target`` from (rows as dicts, maps as pairs)."""
    if value is None:
        return None
    if pa.types.is_struct(target):
        return {f.name: _arrow_value(v, f.type) for f, v in zip(target, value, strict=True)}
    if pa.types.is_map(target):
        return [(k, _arrow_value(v, target.item_type)) for k, v in value.items()]
    if pa.types.is_list(target):
        return [_arrow_value(v, target.value_type) for v in value]
    if pa.types.is_string(target) and not isinstance(value, str):
        return str(value)  # uuid.UUID
    return value


def _to_arrow(description: list[Any], rows: list[list[Any]]) -> pa.Table:
    arrays = []
    for index, column in enumerate(description):
        target = arrow_type(str(column[1]))
        values = [row[index] for row in rows]
        if target is None:
            # unknown types: strings of their Trino text form are faithful and always build
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
        else:
            arrays.append(pa.array([_arrow_value(v, target) for v in values], type=target))
    return pa.Table.from_arrays(arrays, names=[str(column[0]) for column in description])


def query(url: str, sql: str, repository: str, ref: str) -> Result:
    """Run one statement with ``ref`` of ``repository`` as the session catalog.

    Creates the repository's and the ref's catalogs first when Trino lacks them, and drops ref
    catalogs beyond :data:`MAX_REF_CATALOGS`.

    Raises:
        VxpError: Trino refused the statement (its message, catalog names removed), or cannot
            be reached.
        trino.exceptions.HttpError: Trino answered with an HTTP error (502, 503, 504).
        trino.exceptions.TrinoConnectionError: Trino sent an empty answer.
        ModuleNotFoundError: the Trino client (the ``full`` extra) is not installed.
    """
    from requests.exceptions import RequestException
    from trino.exceptions import TrinoQueryError

    session_catalog = ref_catalog(repository, ref)
    try:
        with closing(connect(url)) as setup:
            known = catalogs(setup)
            ensure_catalog(setup, repository_catalog(repository), repository, known)
            ensure_catalog(setup, session_catalog, f"{repository}.{ref}", known)
            drop_catalogs(setup, stale_ref_catalogs(known, session_catalog), known)
        with closing(connect(url, catalog=session_catalog)) as conn:
            start = time.monotonic()
            cur = conn.cursor()
            # the client sends one statement; a trailing `;` is habit, not a second statement
            cur.execute(sql.strip().rstrip(";"))
            rows = cur.fetchall()
            table = _to_arrow(cur.description or [], rows)
            # Trino names a write's kind (updateType) and counts its rows (updateCount)
            counted = cur.update_type is not None and cur.rowcount >= 0
            return Result(table, time.monotonic() - start, cur.rowcount if counted else None)
    except TrinoQueryError as exc:
        # Trino names tables with the session catalog, which users never typed
        message = str(exc.message).replace(f"{session_catalog}.", "")
        raise VxpError(
            f"Trino: {message}", hint=f"the query ran at ref {ref!r} of {repository!r}"
        ) from exc
    except RequestException as exc:
        raise VxpError(
            f"Trino does not answer at {url}: {exc}",
            hint="start the full stack (`vxp up --stack full`) or point TRINO_URL at a Trino",
        ) from exc
