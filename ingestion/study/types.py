"""Column types of a study dictionary and how they map to Arrow, Iceberg and DuckDB.

Dictionary type names (case-insensitive, surrounding blanks ignored):

- ``string`` (``str``, ``text``): Arrow ``string``, Iceberg ``string``
- ``int`` (``integer``): ``int32``, Iceberg ``int`` (32-bit)
- ``long`` (``bigint``): ``int64``, Iceberg ``long``
- ``real`` (``float32``): ``float32``, Iceberg ``float``
- ``float`` (``double``, ``float64``): ``float64``, Iceberg ``double``
- ``decimal(p,s)``: ``decimal128(p,s)``, Iceberg ``decimal(p,s)``; 1 <= p <= 38, 0 <= s <= p
- ``date``: ``date32``, Iceberg ``date`` (ISO 8601 ``YYYY-MM-DD``)
- ``datetime`` (``timestamp``): ``timestamp[us]``, Iceberg ``timestamp`` (no time zone)
- ``time``: ``time64[us]``, Iceberg ``time``
- ``bool`` (``boolean``): ``bool``, Iceberg ``boolean`` (true/false, t/f, yes/no, y/n, 1/0)

``float`` is 64-bit because that is what a data manager means by it (SAS numerics, SQL FLOAT,
Frictionless ``number`` are all doubles); ``real`` is the 32-bit type.

Type changes between deliveries follow Iceberg's schema evolution rules (Iceberg table spec,
"Schema Evolution": int -> long, float -> double, decimal(P,S) -> decimal(P',S) with P' > P);
see :func:`type_change`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import pyarrow as pa
from pyiceberg import types as it

Kind = Literal[
    "string", "int", "long", "float", "double", "decimal", "date", "datetime", "time", "bool"
]

_ALIASES: dict[str, Kind] = {
    "string": "string",
    "str": "string",
    "text": "string",
    "int": "int",
    "integer": "int",
    "long": "long",
    "bigint": "long",
    "real": "float",
    "float32": "float",
    "float": "double",
    "double": "double",
    "float64": "double",
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
    "time": "time",
    "bool": "bool",
    "boolean": "bool",
}
_DECIMAL = re.compile(r"^decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


@dataclass(frozen=True)
class ColumnType:
    """One column type. ``precision``/``scale`` are set only for ``decimal``.

    ``kind`` names the physical type: ``float`` is the 32-bit type (dictionary name ``real``),
    ``double`` the 64-bit one (dictionary names ``float`` and ``double``).
    """

    kind: Kind
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        """The canonical dictionary spelling (``float`` kind prints as ``real``)."""
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return {"float": "real", "double": "float"}.get(self.kind, self.kind)

    def to_arrow(self) -> pa.DataType:
        """The Arrow type a typed column of this type has."""
        if self.kind == "decimal":
            assert self.precision is not None and self.scale is not None
            return pa.decimal128(self.precision, self.scale)
        return _ARROW[self.kind]

    def to_iceberg(self) -> it.PrimitiveType:
        """The Iceberg primitive type (pyiceberg) of the column."""
        if self.kind == "decimal":
            assert self.precision is not None and self.scale is not None
            return it.DecimalType(self.precision, self.scale)
        return _ICEBERG[self.kind]

    def to_duckdb(self) -> str:
        """The DuckDB SQL type name used to check and cast text values."""
        if self.kind == "decimal":
            return f"DECIMAL({self.precision},{self.scale})"
        return _DUCKDB[self.kind]


_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "time": pa.time64("us"),
    "bool": pa.bool_(),
}
_ICEBERG: dict[str, it.PrimitiveType] = {
    "string": it.StringType(),
    "int": it.IntegerType(),
    "long": it.LongType(),
    "float": it.FloatType(),
    "double": it.DoubleType(),
    "date": it.DateType(),
    "datetime": it.TimestampType(),
    "time": it.TimeType(),
    "bool": it.BooleanType(),
}
_DUCKDB: dict[str, str] = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "time": "TIME",
    "bool": "BOOLEAN",
}


def parse_type(text: str) -> ColumnType:
    """Parse a dictionary type name (see the module table), case-insensitively.

    Raises:
        ValueError: unknown name, or a decimal outside 1 <= p <= 38, 0 <= s <= p (Iceberg's
            decimal limits).
    """
    name = text.strip().lower()
    if name in _ALIASES:
        return ColumnType(_ALIASES[name])
    m = _DECIMAL.match(name)
    if m:
        p, s = int(m.group(1)), int(m.group(2))
        if not 1 <= p <= 38 or not 0 <= s <= p:
            raise ValueError(
                f"decimal({p},{s}) needs 1 <= precision <= 38 and 0 <= scale <= precision"
            )
        return ColumnType("decimal", p, s)
    raise ValueError(
        f"unknown type {text.strip()!r}; use one of string, int, long, real, float, "
        "decimal(p,s), date, datetime, time, bool"
    )


class TypeChange(StrEnum):
    """What a type change between two deliveries means for the Iceberg table."""

    SAME = "same"
    WIDEN = "widen"  # Iceberg can promote the column in place
    INCOMPATIBLE = "incompatible"  # a validation error (code ``schema.type_change``)


def type_change(old: ColumnType, new: ColumnType) -> TypeChange:
    """Classify the change of a column from ``old`` (the table's type) to ``new`` (delivered).

    Widening is exactly what the Iceberg spec allows as type promotion: int -> long,
    float -> double, decimal(P,S) -> decimal(P',S) with P' > P. Everything else (including
    narrowing, long -> double, int -> string, a scale change) is ``INCOMPATIBLE``.
    """
    if old == new:
        return TypeChange.SAME
    if (old.kind, new.kind) in {("int", "long"), ("float", "double")}:
        return TypeChange.WIDEN
    if (
        old.kind == new.kind == "decimal"
        and old.scale == new.scale
        and (new.precision or 0) > (old.precision or 0)
    ):
        return TypeChange.WIDEN
    return TypeChange.INCOMPATIBLE


def iceberg_type_change(old: it.IcebergType, new: it.IcebergType) -> TypeChange:
    """:func:`type_change` for Iceberg types (e.g. an existing table's field vs the plan).

    Same rules (Iceberg spec, "Schema Evolution"); any other pair is ``INCOMPATIBLE``.
    """
    if old == new:
        return TypeChange.SAME
    if isinstance(old, it.IntegerType) and isinstance(new, it.LongType):
        return TypeChange.WIDEN
    if isinstance(old, it.FloatType) and isinstance(new, it.DoubleType):
        return TypeChange.WIDEN
    if (
        isinstance(old, it.DecimalType)
        and isinstance(new, it.DecimalType)
        and old.scale == new.scale
        and new.precision > old.precision
    ):
        return TypeChange.WIDEN
    return TypeChange.INCOMPATIBLE
