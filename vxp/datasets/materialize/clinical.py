"""``-m clinical-to-csv``: per study table, the rows of the locked subjects at the pinned commit,
as CSV, with the data dictionary beside them.

Output, per study (source) ``<source>``::

    clinical-to-csv/<source>/<dataset>.csv          the rows, one CSV per dataset table
    clinical-to-csv/<source>/<dataset>.schema.json  its columns: Frictionless Table Schema
    clinical-to-csv/<source>/dictionary/<file>      the dictionary as delivered, byte for byte

**Which tables.** The current tables ``<source>.<dataset>`` of the integration layer that hold
subjects, i.e. have the ``subject_sk`` surrogate key column (docs/reference/study-dictionary.md,
``vxp-study.yaml``): ``dm``, ``vs``, ``ae``, … — not the ``_history`` tables, not
``surrogate_keys``, not tables without subjects (``sites``), and not ``dicom_series`` (imaging
is ``-m bids``'s). **Which rows.** Those whose ``subject_sk`` is the surrogate key of a locked
subject, looked up in ``<source>.surrogate_keys`` at the commit; a subject is the nearest
``Subject`` at or above each locked resource. Every column of the table, in table order, rows
sorted by all columns (``ORDER BY ALL``), so the file depends only on the commit and the
subjects.

**CSV.** RFC 4180 with a header line, ``,`` separated, quotes only where needed, ``\\n`` line
ends, UTF-8, empty field for null; values as pyarrow's CSV writer formats them (ISO 8601 dates
and timestamps, decimals at their scale).

**The dictionary.** Two sidecars, both decided on purpose: ``<dataset>.schema.json`` is written
from the table's schema at the commit (the columns the CSV really has, including surrogate keys
and columns that later deliveries added, with their Iceberg types), with each column's label,
the natural key and PHI flags taken from the delivered dictionary; and the delivered dictionary
itself (``contents.csv`` or ``datapackage.json``), found through the latest study run's
``_manifest.json`` at the commit and copied byte for byte after its sha256 was checked
(:mod:`.study`). The schema JSON is a Frictionless Table Schema (``fields[].name``, ``type``,
``title``; ``primaryKey``) with vxp's ``vxpType`` per field, the type vxp's own dictionary
reader accepts.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv

from vxp.domain.engines.common import REF_CATALOG

from .base import MaterializeContext, MaterializerResult
from .lockfile import LockedResource
from .study import DeliveredDictionary, StudyScope, delivered_dictionary, study_scopes

__all__ = ["ClinicalCsvMaterializer"]

SUBJECT_KEY = "subject_sk"
#: Iceberg primitive type → Frictionless Table Schema type
_FRICTIONLESS = {
    "boolean": "boolean",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "date": "date",
    "time": "time",
    "timestamp": "datetime",
    "timestamptz": "datetime",
    "string": "string",
    "uuid": "string",
    "binary": "string",
}


def _literal(value: str) -> str:
    # a SQL string literal: the client's query() takes no parameters; quotes are doubled
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ClinicalCsvMaterializer:
    """The locked subjects' rows of every study table as CSV, with the dictionary (module
    docstring)."""

    name: ClassVar[str] = "clinical-to-csv"
    description: ClassVar[str] = (
        "per study table, the locked subjects' rows as CSV with the data dictionary"
    )

    def materialize(
        self, resources: Sequence[LockedResource], context: MaterializeContext
    ) -> MaterializerResult:
        """Write the CSV files and sidecars of every study in ``resources``.

        Raises:
            InvalidInput: a study is locked at two commits.
            ChecksumMismatch: the delivered dictionary's bytes do not match its manifest.
            NotFound: a pinned commit is gone.
        """
        result = MaterializerResult()
        tables: list[str] = []
        for scope in study_scopes(resources, self.name):
            if not scope.subjects:
                result.skipped.append(f"trial/{scope.source}: no subject is locked")
                continue
            written = self._study(scope, context, result)
            tables += [f"{scope.source}.{t}" for t in written]
        result.details["tables"] = tables
        return result

    def _study(
        self, scope: StudyScope, context: MaterializeContext, result: MaterializerResult
    ) -> list[str]:
        # every value in these statements is a quoted identifier (_ident) or literal (_literal),
        # or an integer: the client's query() takes no parameters
        client = context.client(scope.repository, scope.commit)
        listed = client.query(
            "SELECT table_name FROM information_schema.tables "  # noqa: S608
            f"WHERE table_catalog = {_literal(REF_CATALOG)} "
            f"AND table_schema = {_literal(scope.source)} ORDER BY table_name"
        )
        names = [str(n) for n in listed.column("table_name").to_pylist()]
        if "surrogate_keys" not in names:
            result.skipped.append(
                f"trial/{scope.source}: no table {scope.source}.surrogate_keys at "
                f"{scope.commit[:12]} (no study was ingested)"
            )
            return []
        keys = client.query(
            f"SELECT natural_key, surrogate_key FROM {_ident(scope.source)}.surrogate_keys "  # noqa: S608
            "WHERE entity = 'subject'"
        ).to_pylist()
        wanted = set(scope.subjects)
        surrogate = sorted(
            int(row["surrogate_key"]) for row in keys if _first(row["natural_key"]) in wanted
        )
        dictionary = delivered_dictionary(context, scope)
        written = []
        for table in names:
            if table.endswith("_history") or table in ("surrogate_keys", "dicom_series"):
                continue
            iceberg = client.table(f"{scope.source}.{table}")
            schema = iceberg.schema()
            if SUBJECT_KEY not in {f.name for f in schema.fields}:
                continue
            if surrogate:
                keys_sql = ", ".join(str(k) for k in surrogate)
                rows = client.query(
                    f"SELECT * FROM {_ident(scope.source)}.{_ident(table)} "  # noqa: S608
                    f"WHERE {SUBJECT_KEY} IN ({keys_sql}) ORDER BY ALL"
                )
            else:
                empty = f"SELECT * FROM {_ident(scope.source)}.{_ident(table)} LIMIT 0"  # noqa: S608
                rows = client.query(empty)
            rows = rows.replace_schema_metadata(None)
            context.write_bytes(f"{scope.source}/{table}.csv", _csv(rows))
            sidecar = _table_schema(scope, table, schema, rows.num_rows, dictionary)
            context.write_text(
                f"{scope.source}/{table}.schema.json",
                json.dumps(sidecar, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            )
            result.files += 2
            written.append(table)
        if dictionary is not None:
            context.fetch_objects(scope.repository, scope.commit, [dictionary.file])
            context.place(dictionary.file, f"{scope.source}/dictionary/{dictionary.name}")
            result.files += 1
        else:
            result.skipped.append(
                f"trial/{scope.source}: the study's delivery at {scope.commit[:12]} holds no "
                "contents.csv or datapackage.json; the schema sidecars have no labels"
            )
        missing = wanted - {_first(row["natural_key"]) for row in keys}
        for subject in sorted(missing):
            result.skipped.append(
                f"trial/{scope.source}/subject/{subject}: no rows (not in "
                f"{scope.source}.surrogate_keys at {scope.commit[:12]})"
            )
        return written


def _first(natural_key: Any) -> str | None:
    """The first part of a stored natural key (``["BASEL-001"]``), as a string."""
    try:
        parts = json.loads(str(natural_key))
    except ValueError:
        return None
    return str(parts[0]) if isinstance(parts, list) and parts else None


def _csv(rows: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    return buffer.getvalue()


def _table_schema(
    scope: StudyScope,
    table: str,
    schema: Any,
    rows: int,
    dictionary: DeliveredDictionary | None,
) -> dict[str, Any]:
    """The Frictionless Table Schema of one CSV (module docstring)."""
    spec = dictionary.dictionary.dataset(table) if dictionary is not None else None
    fields = []
    for field in schema.fields:
        iceberg_type = str(field.field_type)
        base = iceberg_type.split("(")[0]
        entry: dict[str, Any] = {
            "name": field.name,
            "type": "number" if base == "decimal" else _FRICTIONLESS.get(base, "any"),
            "vxpType": iceberg_type,
        }
        variable = (
            next((v for v in spec.variables if v.column == field.name), None) if spec else None
        )
        if variable is not None:
            if variable.label:
                entry["title"] = variable.label
            if variable.phi:
                entry["vxpPhi"] = True
        elif field.name.endswith("_sk"):
            entry["description"] = (
                f"surrogate key of the {field.name[:-3]} entity (vxp; "
                f"{scope.source}.surrogate_keys)"
            )
        fields.append(entry)
    body: dict[str, Any] = {
        "fields": fields,
        "vxp": {
            "table": f"{scope.source}.{table}",
            "repository": scope.repository,
            "commit": scope.commit,
            "rows": rows,
            "subjects": len(scope.subjects),
        },
    }
    if spec is not None and spec.key_columns:
        body["primaryKey"] = spec.key_columns
    if dictionary is not None:
        body["vxp"]["dictionary"] = {
            "file": f"dictionary/{dictionary.name}",
            "run": dictionary.run,
            "sha256": dictionary.file.sha256,
        }
    return body
