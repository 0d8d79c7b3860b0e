"""Validate a study delivery and plan its datasets: the pure part of ``vxp ingest study``.

:func:`validate_study` reads nothing but the delivery folder; it returns a :class:`StudyPlan`
with every problem found and, per dataset, what the landing step needs (file, format, Arrow
schema, key columns, entities). :meth:`DatasetPlan.batches` then streams the typed rows.

Matching: a data file (``.csv`` or ``.xpt``, case-insensitive suffix) is the dataset named by
its file stem (case-insensitive); files in sub-folders count too. Other files (PDFs, READMEs)
are delivered as they are and get a ``file.ignored`` warning. The dictionary is
``contents.csv`` or ``datapackage.json`` at the top of the folder, or the ``dictionary`` path.
Without a dictionary, SAS transport files are typed by the file and have no key columns;
CSV files are ``dataset.undeclared`` errors.

Column names are normalised to lower case (``USUBJID`` -> ``usubjid``); tables are named by
the lower-case dataset name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import pyarrow as pa

from ..delivery import DeliveredFile, scan_delivery
from ..problems import Problems, Severity
from .csvfile import CsvLayout, check_csv, inspect_csv, read_csv_batches
from .dictionary import (
    DICTIONARY_NAMES,
    IDENTIFIER,
    RESERVED_COLUMNS,
    DatasetSpec,
    Dictionary,
    Variable,
    load_dictionary,
)
from .entities import CONFIG_NAME, Entity, StudyConfig, load_config
from .types import ColumnType
from .xptfile import XptLayout, check_xpt, compatible, inspect_xpt, read_xpt_batches

DATA_SUFFIXES = {".csv": "csv", ".xpt": "xpt"}


@dataclass
class DatasetPlan:
    """One dataset of a validated delivery.

    Attributes:
        name: dataset name as in the dictionary (or the file stem).
        table: normalised table name (lower case).
        file: the delivered file.
        format: ``"csv"`` or ``"xpt"``.
        columns: output column name -> type, in output (dictionary, else file) order.
        labels: output column name -> label.
        key_columns: output names of the natural key columns (empty: replaced per delivery).
        entities: the entities whose key columns the dataset holds.
        rows: number of data rows counted during validation.
    """

    name: str
    table: str
    file: DeliveredFile
    format: Literal["csv", "xpt"]
    columns: dict[str, ColumnType]
    labels: dict[str, str]
    key_columns: list[str]
    entities: list[Entity]
    rows: int = 0
    _sources: dict[str, str] = field(default_factory=dict, repr=False)
    _layout: CsvLayout | XptLayout | None = field(default=None, repr=False)

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of :meth:`batches` (labels in field metadata ``label``)."""
        return pa.schema(
            [
                pa.field(n, t.to_arrow(), metadata={"label": self.labels.get(n, "")})
                for n, t in self.columns.items()
            ]
        )

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Stream the dataset's rows as typed batches with :attr:`schema`'s names and types.

        Memory is bounded by one batch (a few MiB of CSV text, or 100,000 SAS records).

        Raises:
            ValueError: the file no longer matches what was validated.
        """
        mapping = {src: (out, self.columns[out]) for src, out in self._sources.items()}
        if isinstance(self._layout, CsvLayout):
            return read_csv_batches(self.file, self._layout, mapping)
        if isinstance(self._layout, XptLayout):
            return read_xpt_batches(self.file, self._layout, mapping)
        raise ValueError(f"{self.file.relative_path} was not validated")


@dataclass
class StudyPlan:
    """The result of :func:`validate_study`.

    Attributes:
        root: the delivery folder.
        files: every good file of the delivery (all are landed byte for byte).
        dictionary: the dictionary file's relative path, or ``None``.
        datasets: the datasets, sorted by table name (only those whose file validated far
            enough to be planned; check :attr:`ok` before landing).
        problems: everything found.
        config: the effective entity configuration.
    """

    root: Path
    files: list[DeliveredFile]
    dictionary: str | None
    datasets: list[DatasetPlan]
    problems: Problems
    config: StudyConfig

    @property
    def ok(self) -> bool:
        """True when there is no error: the delivery may be landed."""
        return not self.problems.has_errors


def validate_study(
    root: Path,
    *,
    dictionary: Path | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> StudyPlan:
    """Check a whole study delivery and plan its datasets; reports every problem at once.

    Args:
        root: the delivery folder.
        dictionary: the dictionary file when it is not ``contents.csv``/``datapackage.json``
            at the top of ``root``.
        encoding: text encoding of the CSV files (a UTF-8 byte order mark is always tolerated).
        delimiter: CSV delimiter; ``None`` sniffs it per file.

    Returns:
        The plan; ``plan.ok`` is False when any error was found (then nothing may be written).

    Raises:
        NotADirectoryError: ``root`` is not a folder.
    """
    problems = Problems()
    files = scan_delivery(root, problems)
    root_resolved = Path(root).resolve()
    by_name = {f.relative_path.lower(): f for f in files}

    dict_file: Path | None = None
    dict_shown: str | None = None
    if dictionary is not None:
        dict_file = Path(dictionary)
        resolved = dict_file.resolve()
        dict_shown = (
            resolved.relative_to(root_resolved).as_posix()
            if resolved.is_relative_to(root_resolved)
            else dict_file.as_posix()
        )
    else:
        found = [by_name[n] for n in DICTIONARY_NAMES if n in by_name]
        if len(found) > 1:
            problems.error(
                "dictionary.ambiguous",
                "Both contents.csv and datapackage.json are present; keep one, or pass "
                "--dictionary.",
            )
        if found:
            dict_file, dict_shown = found[0].path, found[0].relative_path
    spec = (
        load_dictionary(dict_file, problems, display=dict_shown)
        if dict_file is not None
        else Dictionary(file="")
    )
    config_file = by_name.get(CONFIG_NAME)
    config = load_config(config_file.path if config_file else None, problems)

    data_files: dict[str, list[DeliveredFile]] = {}
    skip = {dict_shown, CONFIG_NAME}
    for f in files:
        pure = PurePosixPath(f.relative_path)
        if f.relative_path.lower() in {s.lower() for s in skip if s}:
            continue
        if pure.suffix.lower() in DATA_SUFFIXES:
            data_files.setdefault(pure.stem.lower(), []).append(f)
        else:
            problems.warning(
                "file.ignored",
                "Not a dataset (.csv or .xpt) nor the dictionary: delivered as is, not tabled.",
                file=f.relative_path,
            )

    datasets: list[DatasetPlan] = []
    for stem in sorted(data_files):
        candidates = data_files[stem]
        if len(candidates) > 1:
            for f in candidates:
                problems.error(
                    "dataset.duplicate",
                    f"Several files hold dataset {stem!r}: "
                    + ", ".join(c.relative_path for c in candidates)
                    + "; keep one.",
                    file=f.relative_path,
                )
            continue
        f = candidates[0]
        ds = spec.dataset(stem)
        fmt = DATA_SUFFIXES[PurePosixPath(f.relative_path).suffix.lower()]
        if ds is None and (fmt == "csv" or dict_file is not None):
            problems.error(
                "dataset.undeclared",
                f"The dictionary has no dataset {PurePosixPath(f.relative_path).stem!r}; "
                "declare its variables or remove the file.",
                file=f.relative_path,
            )
            continue
        plan = (
            _plan_csv(f, ds, config, problems, encoding, delimiter)
            if fmt == "csv"
            else _plan_xpt(f, ds, config, problems)
        )
        if plan is not None:
            datasets.append(plan)
    for key, ds in sorted(spec.datasets.items()):
        if key not in data_files:
            problems.error(
                "dataset.missing",
                f"The dictionary declares dataset {ds.name!r} but no {ds.name}.csv or "
                f"{ds.name}.xpt was delivered.",
                file=spec.file,
                line=ds.variables[0].line if ds.variables else None,
            )
    return StudyPlan(root, files, dict_shown, datasets, problems, config)


def _match_columns(
    f: DeliveredFile, header: list[str], ds: DatasetSpec, problems: Problems
) -> tuple[dict[str, Variable], bool]:
    """Header name -> dictionary variable (the matched columns) and whether every column
    matched; reports column.* problems."""
    seen: dict[str, str] = {}
    out: dict[str, Variable] = {}
    ok = True
    for h in header:
        low = h.lower()
        if low in seen:
            problems.error(
                "column.duplicate",
                f"Column {h!r} appears twice in the header (names are case-insensitive).",
                file=f.relative_path,
                line=1,
                column=h,
            )
            ok = False
            continue
        seen[low] = h
        var = ds.variable(h)
        if var is None:
            problems.error(
                "column.undeclared",
                f"Column {h!r} is not declared for dataset {ds.name!r} in the dictionary.",
                file=f.relative_path,
                line=1,
                column=h,
            )
            ok = False
        else:
            out[h] = var
    for v in ds.variables:
        if v.column not in seen:
            problems.error(
                "column.missing",
                f"The dictionary declares {v.name!r} but the file has no such column.",
                file=f.relative_path,
                line=1,
                column=v.name,
            )
            ok = False
    return out, ok


def _plan(
    f: DeliveredFile,
    name: str,
    fmt: Literal["csv", "xpt"],
    mapping: dict[str, Variable],
    config: StudyConfig,
) -> DatasetPlan:
    ordered = sorted(mapping.items(), key=lambda kv: kv[1].line or 0)
    columns = {v.column: v.type for _, v in ordered}
    return DatasetPlan(
        name=name,
        table=name.lower(),
        file=f,
        format=fmt,
        columns=columns,
        labels={v.column: v.label for _, v in ordered},
        key_columns=[v.column for _, v in ordered if v.key],
        entities=config.entities_for(name, list(columns)),
        _sources={src: v.column for src, v in ordered},
    )


def _plan_csv(
    f: DeliveredFile,
    ds: DatasetSpec | None,
    config: StudyConfig,
    problems: Problems,
    encoding: str,
    delimiter: str | None,
) -> DatasetPlan | None:
    assert ds is not None
    layout = inspect_csv(f, problems, encoding=encoding, delimiter=delimiter)
    if layout is None:
        return None
    mapping, ok = _match_columns(f, layout.header, ds, problems)
    # the values of the matched columns are checked even when others do not match, so one
    # run reports everything
    keys = [src for src, v in mapping.items() if v.key]
    rows = check_csv(f, layout, {s: v.type for s, v in mapping.items()}, keys, problems)
    if not ok:
        return None
    plan = _plan(f, ds.name, "csv", mapping, config)
    plan._layout = layout
    plan.rows = rows
    _header_only(plan, problems)
    return plan


def _plan_xpt(
    f: DeliveredFile, ds: DatasetSpec | None, config: StudyConfig, problems: Problems
) -> DatasetPlan | None:
    layout = inspect_xpt(f, problems)
    if layout is None:
        return None
    if ds is None:
        name = PurePosixPath(f.relative_path).stem
        mapping: dict[str, Variable] = {}
        for c in layout.columns:
            if (
                not IDENTIFIER.match(c)
                or c.lower() in RESERVED_COLUMNS
                or c.lower().endswith("_sk")
            ):
                problems.error(
                    "column.reserved" if IDENTIFIER.match(c) else "column.name",
                    f"Column {c!r} cannot be a table column (reserved or not an identifier).",
                    file=f.relative_path,
                    column=c,
                )
                return None
            mapping[c] = Variable(
                c, layout.types[c], layout.labels.get(c, ""), line=i_of(layout, c)
            )
    else:
        name = ds.name
        mapping, ok = _match_columns(f, layout.columns, ds, problems)
        bad = not ok
        for c, v in mapping.items():
            if not compatible(v.type, layout.types[c]):
                problems.error(
                    "column.type_mismatch",
                    f"The dictionary declares {v.type} but the file stores "
                    f"{'text' if layout.types[c].kind == 'string' else layout.types[c]}.",
                    file=f.relative_path,
                    column=c,
                )
                bad = True
        if bad:
            return None
    plan = _plan(f, name, "xpt", mapping, config)
    if ds is None:
        plan.columns = {c.lower(): layout.types[c] for c in layout.columns}
        plan._sources = {c: c.lower() for c in layout.columns}
    plan._layout = layout
    keys = [src for src, v in mapping.items() if v.key]
    plan.rows = check_xpt(f, layout, {s: v.type for s, v in mapping.items()}, keys, problems)
    _header_only(plan, problems)
    return plan


def i_of(layout: XptLayout, column: str) -> int:
    """Position (1-based) of ``column`` in the file, to keep file order."""
    return layout.columns.index(column) + 1


def _header_only(plan: DatasetPlan, problems: Problems) -> None:
    if plan.rows == 0 and not any(
        p.file == plan.file.relative_path and p.severity is Severity.ERROR for p in problems
    ):
        problems.warning(
            "file.header_only",
            "The file has columns but no rows; the table will be empty.",
            file=plan.file.relative_path,
        )
