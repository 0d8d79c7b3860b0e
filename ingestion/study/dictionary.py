"""The data dictionary of a study delivery: datasets, their variables, types and key columns.

Two formats (``docs/reference/study-dictionary.md``):

* a **contents CSV** (``contents.csv``): one row per variable with the columns ``dataset``,
  ``variable``, ``type`` (required), ``label``, ``key``, ``phi`` (optional); header names are
  case-insensitive, other columns are ignored, ``key``/``phi`` are ``Y``/``N`` (or empty = N);
* a **Frictionless Data Package** (``datapackage.json``, Data Package v1 with Table Schema v1):
  one resource per dataset (``name``), ``schema.fields`` (inline, or ``schema`` as a relative
  path to a Table Schema JSON file), ``schema.primaryKey`` for the key columns. Field types map
  ``string``/``any`` -> string, ``integer`` -> long, ``number`` -> float, ``boolean`` -> bool,
  ``date``, ``datetime``, ``time``, ``year`` -> int; a field's ``vxpType`` property (any
  dictionary type, e.g. ``"decimal(8,2)"``) overrides the mapping and ``vxpPhi: true`` marks PHI.
  The ``frictionless`` package is not used: it pulls in some twenty dependencies to read what
  is a small JSON document with the few rules above.

Names: dataset and variable names must be SQL identifiers (``[A-Za-z_][A-Za-z0-9_]*``, at most
128 characters) because they become table and column names; they are matched
case-insensitively and normalised to lower case (``USUBJID`` -> column ``usubjid``), the form
DuckDB and Trino both use unquoted. The dictionary's spelling is kept in :attr:`Variable.name`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..problems import Problems
from .types import ColumnType, parse_type

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

#: Columns the integration layer adds to every table (DESIGN.md, "What a ref holds"); a
#: delivered column of the same name would clash.
RESERVED_COLUMNS = frozenset(
    {"valid_from", "valid_to", "is_current", "is_deleted", "version", "run_id"}
)

#: File names recognised as the dictionary at the top of a delivery (case-insensitive).
DICTIONARY_NAMES = ("contents.csv", "datapackage.json")

_YES = {"y", "yes", "true", "1"}
_NO = {"n", "no", "false", "0", ""}


@dataclass(frozen=True)
class Variable:
    """One variable (column) of a dataset as the dictionary declares it.

    Attributes:
        name: the dictionary's spelling, e.g. ``"USUBJID"``.
        type: the declared column type.
        label: human label (``""`` when none).
        key: part of the dataset's natural key.
        phi: marked as protected health information.
        line: 1-based line of the dictionary row (``None`` for JSON dictionaries).
    """

    name: str
    type: ColumnType
    label: str = ""
    key: bool = False
    phi: bool = False
    line: int | None = None

    @property
    def column(self) -> str:
        """The normalised (lower-case) column name used in tables."""
        return self.name.lower()


@dataclass
class DatasetSpec:
    """The dictionary's entry for one dataset: its variables in dictionary order."""

    name: str
    variables: list[Variable] = field(default_factory=list)

    @property
    def table(self) -> str:
        """The normalised (lower-case) table name."""
        return self.name.lower()

    @property
    def key_columns(self) -> list[str]:
        """Normalised names of the key columns, in dictionary order (empty: no key)."""
        return [v.column for v in self.variables if v.key]

    def variable(self, name: str) -> Variable | None:
        """The variable called ``name`` (case-insensitive), or ``None``."""
        low = name.lower()
        return next((v for v in self.variables if v.column == low), None)


@dataclass
class Dictionary:
    """A loaded dictionary: ``datasets`` keyed by lower-case dataset name.

    ``file`` is the dictionary's path as reported in problems (relative to the delivery when
    it is inside it).
    """

    file: str
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)

    def dataset(self, name: str) -> DatasetSpec | None:
        """The dataset called ``name`` (case-insensitive), or ``None``."""
        return self.datasets.get(name.lower())


def load_dictionary(path: Path, problems: Problems, *, display: str | None = None) -> Dictionary:
    """Load a contents CSV or a ``datapackage.json`` (chosen by the ``.json`` suffix).

    Args:
        path: the dictionary file.
        problems: receives every problem of the dictionary (codes ``dictionary.*``,
            ``file.encoding``, ``column.reserved``); bad rows are left out of the result.
        display: the name to report in problems (default: ``path`` as given).

    Returns:
        The datasets and variables that are valid. Never raises for bad content.
    """
    shown = display or path.as_posix()
    out = Dictionary(file=shown)
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.error(
            "file.unreadable", f"The dictionary cannot be read: {exc.strerror or exc}.", file=shown
        )
        return out
    if path.suffix.lower() == ".json":
        _load_datapackage(data, path.parent, out, problems)
    else:
        _load_contents_csv(data, out, problems)
    for ds in out.datasets.values():
        if not ds.variables:
            problems.error(
                "dictionary.row", f"Dataset {ds.name!r} has no valid variables.", file=shown
            )
    return out


def _decode(data: bytes, shown: str, problems: Problems) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.error(
            "file.encoding",
            f"The dictionary is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8.",
            file=shown,
            line=line,
        )
        return None


def _add_variable(
    out: Dictionary,
    problems: Problems,
    dataset: str,
    var: Variable,
    where: str,
) -> None:
    shown = out.file
    for kind, name in (("dataset", dataset), ("variable", var.name)):
        if not IDENTIFIER.match(name):
            problems.error(
                "dictionary.name",
                f"The {kind} name {name!r} ({where}) is not an identifier: use letters, digits "
                "and '_', starting with a letter or '_', at most 128 characters.",
                file=shown,
                line=var.line,
                column=var.name if kind == "variable" else None,
            )
            return
    if var.column in RESERVED_COLUMNS or var.column.endswith("_sk"):
        problems.error(
            "column.reserved",
            f"The variable name {var.name!r} ({where}) is reserved for columns vxp adds "
            f"({', '.join(sorted(RESERVED_COLUMNS))}, *_sk); rename it.",
            file=shown,
            line=var.line,
            column=var.name,
        )
        return
    ds = out.datasets.setdefault(dataset.lower(), DatasetSpec(dataset))
    previous = ds.variable(var.name)
    if previous is not None:
        at = f" (first on line {previous.line})" if previous.line else ""
        problems.error(
            "dictionary.duplicate",
            f"Variable {var.name!r} of dataset {dataset!r} is declared twice{at}.",
            file=shown,
            line=var.line,
            column=var.name,
        )
        return
    ds.variables.append(var)


def _flag(value: str, what: str, line: int, name: str, shown: str, problems: Problems) -> bool:
    low = value.strip().lower()
    if low in _YES:
        return True
    if low not in _NO:
        problems.error(
            "dictionary.value",
            f"The {what} column says {value!r}; use Y or N.",
            file=shown,
            line=line,
            column=name,
        )
    return False


def _load_contents_csv(data: bytes, out: Dictionary, problems: Problems) -> None:
    shown = out.file
    text = _decode(data, shown, problems)
    if text is None:
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        problems.error("file.empty", "The dictionary has no header row.", file=shown, line=1)
        return
    names = [h.strip().lower() for h in header]
    missing = [c for c in ("dataset", "variable", "type") if c not in names]
    if missing:
        problems.error(
            "dictionary.header",
            f"The dictionary header lacks the column(s) {', '.join(missing)} "
            "(needed: dataset, variable, type; optional: label, key, phi).",
            file=shown,
            line=1,
        )
        return
    index = {n: i for i, n in reversed(list(enumerate(names)))}
    last_line = reader.line_num
    for row in reader:
        line = last_line + 1
        last_line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        t = index["type"]
        if (
            len(row) == len(header) + 1
            and re.fullmatch(r"\s*decimal\s*\(\s*\d+\s*", row[t], re.IGNORECASE)
            and re.fullmatch(r"\s*\d+\s*\)\s*", row[t + 1])
        ):
            # an unquoted decimal(p,s) split by the delimiter: join it back
            row = [*row[:t], row[t] + "," + row[t + 1], *row[t + 2 :]]
        if len(row) != len(header):
            problems.error(
                "dictionary.row",
                f"The row has {len(row)} fields, the header {len(header)}.",
                file=shown,
                line=line,
            )
            continue

        def get(col: str, row: list[str] = row) -> str:
            return row[index[col]].strip() if col in index else ""

        dataset, name, type_text = get("dataset"), get("variable"), get("type")
        if not dataset or not name:
            problems.error(
                "dictionary.row", "The row has an empty dataset or variable.", file=shown, line=line
            )
            continue
        try:
            ctype = parse_type(type_text)
        except ValueError as exc:
            problems.error("dictionary.type", f"{exc}.", file=shown, line=line, column=name)
            continue
        key = _flag(get("key"), "key", line, name, shown, problems)
        phi = _flag(get("phi"), "phi", line, name, shown, problems)
        var = Variable(name, ctype, get("label"), key, phi, line)
        _add_variable(out, problems, dataset, var, f"line {line}")


_FRICTIONLESS: dict[str, str] = {
    "string": "string",
    "any": "string",
    "integer": "long",
    "number": "float",
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "year": "int",
}


def _load_datapackage(data: bytes, base: Path, out: Dictionary, problems: Problems) -> None:
    shown = out.file
    text = _decode(data, shown, problems)
    if text is None:
        return
    try:
        package = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.error(
            "dictionary.json", f"Not valid JSON: {exc.msg}.", file=shown, line=exc.lineno
        )
        return
    resources = package.get("resources") if isinstance(package, dict) else None
    if not isinstance(resources, list):
        problems.error("dictionary.json", "The data package has no 'resources' list.", file=shown)
        return
    for i, resource in enumerate(resources):
        where = f"resources[{i}]"
        if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
            problems.error("dictionary.json", f"{where} has no 'name'.", file=shown)
            continue
        dataset = resource["name"]
        schema: Any = resource.get("schema")
        if isinstance(schema, str):
            schema_path = base / schema
            if ".." in Path(schema).parts or Path(schema).is_absolute():
                problems.error(
                    "dictionary.json",
                    f"{where}.schema {schema!r} must be a relative path inside the delivery.",
                    file=shown,
                )
                continue
            try:
                schema = json.loads(schema_path.read_text(encoding="utf-8-sig"))
            except (OSError, ValueError) as exc:
                problems.error(
                    "dictionary.json",
                    f"{where}.schema {schema!r} cannot be read as JSON: {exc}.",
                    file=shown,
                )
                continue
        fields = schema.get("fields") if isinstance(schema, dict) else None
        if not isinstance(fields, list):
            problems.error("dictionary.json", f"{where} has no 'schema.fields' list.", file=shown)
            continue
        primary = schema.get("primaryKey", [])
        keys = {primary.lower()} if isinstance(primary, str) else {str(k).lower() for k in primary}
        for j, f in enumerate(fields):
            fwhere = f"{where}.schema.fields[{j}]"
            if not isinstance(f, dict) or not isinstance(f.get("name"), str):
                problems.error("dictionary.json", f"{fwhere} has no 'name'.", file=shown)
                continue
            name = f["name"]
            type_text = f.get("vxpType") or _FRICTIONLESS.get(str(f.get("type", "string")))
            try:
                if type_text is None:
                    raise ValueError(
                        f"Table Schema type {f.get('type')!r} is not supported (use string, "
                        "integer, number, boolean, date, datetime, time, year, or set vxpType)"
                    )
                ctype = parse_type(str(type_text))
            except ValueError as exc:
                problems.error("dictionary.type", f"{fwhere}: {exc}.", file=shown, column=name)
                continue
            label = str(f.get("title") or f.get("description") or "")
            var = Variable(name, ctype, label, name.lower() in keys, f.get("vxpPhi") is True)
            _add_variable(out, problems, dataset, var, fwhere)
        known = {
            v.column for v in out.datasets.get(dataset.lower(), DatasetSpec(dataset)).variables
        }
        for k in sorted(keys - known):
            problems.error(
                "dictionary.json",
                f"{where}.schema.primaryKey names {k!r}, which is not a field.",
                file=shown,
            )
