"""Data contracts: ``_vxp/contracts/<namespace>.<table>.yaml``, versioned with the data, compiled
to DuckDB SQL and run at the proposed tree (docs/reference/contracts.md).

A contract::

    rows: {min: 1, max: 1000000}          # row-count bounds (either may be left out)
    freshness: {column: visit_date, max_age: 30d}   # newest value at most this old (s, m, h, d)
    unique_key: [subject_id, visit]       # no two rows share these values (and none is null)
    columns:
      subject_id: {not_null: true, regex: '^S[0-9]{3}$'}
      sex: {accepted_values: [F, M]}
      age: {min: 0, max: 120}
      site_id: {references: basel.sites.site_id}   # every value is a key of another table
      name: {phi: true}                   # never in an app-* branch (:mod:`vxp.checks.phi`)

Every rule of a table but ``references`` is counted in one scan of the table (one aggregate
query with a ``FILTER`` per rule); the few offending rows are read only for rules that fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import yaml

from vxp.checks.base import SAMPLE_ROWS, CheckEnv, Problem, Target
from vxp.core.errors import VxpError
from vxp.core.layout import CONTRACTS, TABLES, parse_table_pointer
from vxp.domain.engines import duckdb as duckdb_engine
from vxp.domain.engines.common import REF_CATALOG

NAME = "contract"
SUFFIX = ".yaml"
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_COLUMN_RULES = frozenset(
    {"not_null", "unique", "accepted_values", "min", "max", "regex", "references", "phi"}
)
_TOP_KEYS = frozenset({"rows", "freshness", "unique_key", "columns", "description"})

__all__ = [
    "ColumnRule",
    "Contract",
    "compile_scan",
    "contract_path",
    "load_contracts",
    "parse_contract",
    "run_contract",
]


def contract_path(table: str) -> str:
    """The path of ``table``'s contract in a ref: ``_vxp/contracts/<namespace>.<table>.yaml``."""
    return f"{CONTRACTS}/{table}{SUFFIX}"


@dataclass(frozen=True)
class ColumnRule:
    """One rule on one column.

    Attributes:
        column: the column's name.
        kind: ``not_null``, ``accepted_values``, ``min``, ``max``, ``regex`` or ``references``.
        value: the rule's argument (the values, the bound, the pattern, ``(table, column)``).
    """

    column: str
    kind: str
    value: Any = None

    def describe(self) -> str:
        """``age >= 0``, ``sex in [F, M]``: how a problem names the rule."""
        c, v = self.column, self.value
        return {
            "not_null": f"{c} is not null",
            "unique": f"{c} is unique",
            "accepted_values": f"{c} in {v}",
            "min": f"{c} >= {v}",
            "max": f"{c} <= {v}",
            "regex": f"{c} matches {v!r}",
            "references": f"{c} references {v[0] if isinstance(v, tuple) else v}"
            + (f".{v[1]}" if isinstance(v, tuple) else ""),
        }.get(self.kind, f"{c} {self.kind}")


@dataclass(frozen=True)
class Contract:
    """A table's contract.

    Attributes:
        table: the dotted table name (``basel.patients``), from the file name.
        path: the contract file's path in the ref.
        rules: every column rule, in file order.
        unique_key: columns no two rows may share, or empty.
        min_rows, max_rows: row-count bounds, or None.
        freshness: ``(column, max age)``, or None.
        phi: columns marked ``phi: true``.
    """

    table: str
    path: str
    rules: tuple[ColumnRule, ...] = ()
    unique_key: tuple[str, ...] = ()
    min_rows: int | None = None
    max_rows: int | None = None
    freshness: tuple[str, timedelta] | None = None
    phi: tuple[str, ...] = ()
    references: tuple[str, ...] = field(default=())

    @property
    def columns(self) -> list[str]:
        """Every column the contract names, in first-use order."""
        seen: dict[str, None] = {}
        for name in (*(r.column for r in self.rules), *self.unique_key):
            seen.setdefault(name, None)
        if self.freshness:
            seen.setdefault(self.freshness[0], None)
        return list(seen)


# --- parsing ---------------------------------------------------------------------------------


def _where(path: str, node: yaml.Node) -> str:
    mark = node.start_mark
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node)) if node is not None else None


def _mapping(node: yaml.Node) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    assert isinstance(node, yaml.MappingNode)
    for key, value in node.value:
        yield str(key.value), key, value


def parse_contract(path: str, text: str) -> tuple[Contract | None, list[Problem]]:
    """Parse one contract file; every mistake becomes a problem naming file, line and column.

    Args:
        path: the file's path in the ref (``_vxp/contracts/basel.patients.yaml``).
        text: its content (UTF-8 YAML).

    Returns:
        ``(contract, problems)``: the contract is None when the file cannot be used at all.
    """
    name = path.rsplit("/", 1)[-1].removesuffix(SUFFIX)
    problems: list[Problem] = []

    def bad(node: yaml.Node | None, message: str) -> None:
        where = _where(path, node) if node is not None else path
        problems.append(
            Problem(NAME, where, message, hint="docs/reference/contracts.md has the format")
        )

    if "." not in name:
        bad(None, "a contract's file name is <namespace>.<table>.yaml")
        return None, problems
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        return None, [Problem(NAME, where, f"not valid YAML: {exc}")]
    if root is None:
        return Contract(name, path), []
    if not isinstance(root, yaml.MappingNode):
        bad(root, "a contract is a mapping (rows, freshness, unique_key, columns)")
        return None, problems
    rules: list[ColumnRule] = []
    unique_key: tuple[str, ...] = ()
    min_rows = max_rows = None
    freshness = None
    phi: list[str] = []
    for key, key_node, value in _mapping(root):
        if key not in _TOP_KEYS:
            bad(key_node, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
        elif key == "rows":
            bounds = _plain(value)
            if (
                not isinstance(bounds, dict)
                or not set(bounds) <= {"min", "max"}
                or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in bounds.values()
                )
            ):
                bad(value, "rows is {min: N, max: N} with whole numbers >= 0")
            else:
                min_rows, max_rows = bounds.get("min"), bounds.get("max")
        elif key == "freshness":
            spec = _plain(value)
            match = (
                _DURATION.match(str(spec.get("max_age", ""))) if isinstance(spec, dict) else None
            )
            if not isinstance(spec, dict) or not isinstance(spec.get("column"), str) or not match:
                bad(value, "freshness is {column: NAME, max_age: <n>s|m|h|d}")
            else:
                age = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
                freshness = (spec["column"], age)
        elif key == "unique_key":
            cols = _plain(value)
            if isinstance(cols, str):
                cols = [cols]
            if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
                bad(value, "unique_key is a column name or a list of column names")
            else:
                unique_key = tuple(cols)
        elif key == "columns":
            if not isinstance(value, yaml.MappingNode):
                bad(value, "columns maps each column name to its rules")
                continue
            for column, column_node, spec_node in _mapping(value):
                if not isinstance(spec_node, yaml.MappingNode):
                    bad(spec_node, f"column {column}: its rules are a mapping")
                    continue
                for rule, rule_node, arg_node in _mapping(spec_node):
                    arg = _plain(arg_node)
                    found = _column_rule(column, rule, arg)
                    if isinstance(found, str):
                        bad(rule_node if rule not in _COLUMN_RULES else arg_node, found)
                    elif found is None:
                        continue
                    elif found.kind == "phi":
                        phi.append(column)
                    else:
                        rules.append(found)
                del column_node
    references = tuple(sorted({r.value[0] for r in rules if r.kind == "references"}))
    contract = Contract(
        table=name,
        path=path,
        rules=tuple(rules),
        unique_key=unique_key,
        min_rows=min_rows,
        max_rows=max_rows,
        freshness=freshness,
        phi=tuple(phi),
        references=references,
    )
    return (None if problems else contract), problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | date) and not isinstance(value, bool)


def _column_rule(column: str, rule: str, arg: Any) -> ColumnRule | str | None:
    """The rule, None for a rule switched off (``not_null: false``), or what is wrong."""
    if rule not in _COLUMN_RULES:
        return f"column {column}: unknown rule {rule!r} (known: {', '.join(sorted(_COLUMN_RULES))})"
    if rule in ("not_null", "unique", "phi"):
        if not isinstance(arg, bool):
            return f"column {column}: {rule} is true or false"
        return ColumnRule(column, rule) if arg else None
    if rule == "accepted_values":
        if not isinstance(arg, list) or not arg or any(isinstance(v, dict | list) for v in arg):
            return f"column {column}: accepted_values is a non-empty list of values"
        return ColumnRule(column, rule, tuple(arg))
    if rule in ("min", "max"):
        if not _is_number(arg):
            return f"column {column}: {rule} is a number or a date"
        return ColumnRule(column, rule, arg)
    if rule == "regex":
        try:
            re.compile(str(arg))
        except re.error as exc:
            return f"column {column}: regex {arg!r} is not a regular expression ({exc})"
        if not isinstance(arg, str):
            return f"column {column}: regex is a string"
        return ColumnRule(column, rule, arg)
    # references: <namespace>.<table>.<column>
    if not isinstance(arg, str) or arg.count(".") < 2:
        return f"column {column}: references is <namespace>.<table>.<column>"
    table, _, key = arg.rpartition(".")
    return ColumnRule(column, rule, (table, key))


def load_contracts(
    env: CheckEnv, repository: str, ref: str
) -> tuple[list[Contract], list[Problem]]:
    """Every contract at ``ref`` and every problem of their files.

    Raises:
        LakeFSError: lakeFS refused a read.
    """
    contracts: list[Contract] = []
    problems: list[Problem] = []
    for entry in env.session.list_objects(repository, ref, CONTRACTS + "/", delimiter=""):
        if not entry.path.endswith(SUFFIX):
            continue
        raw = env.session.get_object(repository, ref, entry.path) or b""
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            problems.append(Problem(NAME, entry.path, f"not UTF-8 text ({exc})"))
            continue
        contract, found = parse_contract(entry.path, text)
        problems += found
        if contract is not None:
            contracts.append(contract)
    return contracts, problems


# --- compiling -------------------------------------------------------------------------------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_sql(table: str) -> str:
    """``lake."<namespace>"."<table>"``: the table in a DuckDB session at the ref."""
    namespace, _, name = table.rpartition(".")
    return f"{REF_CATALOG}.{_ident(namespace)}.{_ident(name)}"


def violation(rule: ColumnRule) -> tuple[str, list[Any]]:
    """The SQL condition true for rows that break ``rule`` (not ``references``), and its
    parameters (values are always parameters, never pasted into SQL).

    Raises:
        ValueError: ``rule`` is a ``references`` or ``unique`` rule (they need their own query).
    """
    col = _ident(rule.column)
    if rule.kind == "not_null":
        return f"{col} IS NULL", []
    if rule.kind == "accepted_values":
        marks = ", ".join("?" for _ in rule.value)
        return f"{col} IS NOT NULL AND {col} NOT IN ({marks})", list(rule.value)
    if rule.kind == "min":
        return f"{col} < ?", [rule.value]
    if rule.kind == "max":
        return f"{col} > ?", [rule.value]
    if rule.kind == "regex":
        return f"{col} IS NOT NULL AND NOT regexp_full_match(CAST({col} AS VARCHAR), ?)", [
            rule.value
        ]
    raise ValueError(f"no scan condition for rule {rule.kind}")


def compile_scan(contract: Contract) -> tuple[str, list[Any], list[str]]:
    """One aggregate query that counts every rule's offending rows in a single scan.

    Returns:
        ``(sql, parameters, labels)``: the query's columns are ``rows``, one count per label (a
        rule's index in ``contract.rules``, ``unique:<col>``, ``unique_key``), then ``newest``
        when the contract has freshness.
    """
    parts = ["count(*)"]
    params: list[Any] = []
    labels: list[str] = []
    for index, rule in enumerate(contract.rules):
        if rule.kind == "references":
            continue
        if rule.kind == "unique":
            col = _ident(rule.column)
            parts.append(f"count({col}) - count(DISTINCT {col})")
        else:
            condition, values = violation(rule)
            parts.append(f"count(*) FILTER (WHERE {condition})")
            params += values
        labels.append(str(index))
    if contract.unique_key:
        cols = ", ".join(_ident(c) for c in contract.unique_key)
        if len(contract.unique_key) == 1:
            # count(DISTINCT) skips nulls, so this counts extra copies and null keys alike
            parts.append(f"count(*) - count(DISTINCT {cols})")
        else:
            # a row value with a null field is a distinct value: count null keys on their own
            nulls = " OR ".join(f"{_ident(c)} IS NULL" for c in contract.unique_key)
            parts.append(f"count(*) - count(DISTINCT ({cols})) + count(*) FILTER (WHERE {nulls})")
        labels.append("unique_key")
    if contract.freshness:
        parts.append(f"max({_ident(contract.freshness[0])})")
    # identifiers are quoted by _ident, values are parameters
    sql = f"SELECT {', '.join(parts)} FROM {table_sql(contract.table)}"  # noqa: S608
    return sql, params, labels


# --- running ---------------------------------------------------------------------------------


def _rows(cursor: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], ...]:
    names = [d[0] for d in cursor.description or ()]
    return tuple(dict(zip(names, row, strict=True)) for row in cursor.fetchall())


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    try:
        cursor = conn.execute(f"SELECT * FROM {table_sql(table)} LIMIT 0")  # noqa: S608
    except duckdb.Error:
        return None
    return [d[0] for d in cursor.description or ()]


def run_contract(
    conn: duckdb.DuckDBPyConnection, contract: Contract, *, now: datetime | None = None
) -> list[Problem]:
    """Every rule of ``contract`` the table breaks, each with up to five offending rows.

    Args:
        conn: a DuckDB session at the ref (:func:`vxp.domain.engines.duckdb.session`).
        now: the time freshness is measured against (default: now, UTC).

    Raises:
        VxpError: DuckDB failed on a query the contract compiled to.
    """
    subject = f"table {contract.table}"
    columns = _columns(conn, contract.table)
    if columns is None:
        return [
            Problem(
                NAME,
                subject,
                f"the table of contract {contract.path} does not exist",
                hint="create the table, or delete the contract with the table",
            )
        ]
    missing = [c for c in contract.columns if c not in columns]
    if missing:
        return [
            Problem(
                NAME,
                subject,
                f"contract {contract.path} names columns the table lacks: {', '.join(missing)}",
                hint=f"the table's columns are: {', '.join(columns)}",
            )
        ]
    sql, params, labels = compile_scan(contract)
    try:
        counts = conn.execute(sql, params).fetchone()
    except duckdb.Error as exc:
        raise VxpError(f"contract {contract.path}: DuckDB refused its query: {exc}") from exc
    assert counts is not None
    problems: list[Problem] = []
    total = int(counts[0])
    shown = [c for c in contract.unique_key] or columns[:3]
    for label, count in zip(labels, counts[1 : 1 + len(labels)], strict=True):
        if not count:
            continue
        if label == "unique_key":
            problems.append(_duplicates(conn, contract, contract.unique_key, int(count)))
            continue
        rule = contract.rules[int(label)]
        if rule.kind == "unique":
            problems.append(_duplicates(conn, contract, (rule.column,), int(count)))
            continue
        condition, values = violation(rule)
        cols = ", ".join(_ident(c) for c in dict.fromkeys([*shown, rule.column]))
        sample = _rows(
            conn.execute(
                f"SELECT {cols} FROM {table_sql(contract.table)} WHERE {condition} "  # noqa: S608
                f"LIMIT {SAMPLE_ROWS}",
                values,
            )
        )
        problems.append(
            Problem(
                NAME,
                subject,
                f"{count} of {total} rows break {rule.describe()}",
                sample,
                hint=f"correct the rows, or the contract {contract.path} if the rule is wrong",
            )
        )
    if contract.min_rows is not None and total < contract.min_rows:
        problems.append(
            Problem(
                NAME,
                subject,
                f"{total} rows, fewer than the contract's minimum {contract.min_rows}",
            )
        )
    if contract.max_rows is not None and total > contract.max_rows:
        problems.append(
            Problem(
                NAME, subject, f"{total} rows, more than the contract's maximum {contract.max_rows}"
            )
        )
    if contract.freshness:
        column, age = contract.freshness
        newest = _as_utc(counts[1 + len(labels)])
        moment = now or datetime.now(UTC)
        if newest is None or moment - newest > age:
            problems.append(
                Problem(
                    NAME,
                    subject,
                    f"stale: the newest {column} is {newest.isoformat() if newest else 'missing'}, "
                    f"older than {age} before {moment.isoformat(timespec='seconds')}",
                    hint="deliver newer data, or relax freshness in the contract",
                )
            )
    for rule in contract.rules:
        if rule.kind == "references":
            problems += _references(conn, contract, rule, shown)
    return problems


def _duplicates(
    conn: duckdb.DuckDBPyConnection, contract: Contract, key: Sequence[str], count: int
) -> Problem:
    cols = ", ".join(_ident(c) for c in key)
    nulls = " OR ".join(f"{_ident(c)} IS NULL" for c in key)
    sample = _rows(
        conn.execute(
            f"SELECT {cols}, count(*) AS copies FROM {table_sql(contract.table)} "  # noqa: S608
            f"GROUP BY ALL HAVING count(*) > 1 OR bool_or({nulls}) "
            f"ORDER BY copies DESC LIMIT {SAMPLE_ROWS}"
        )
    )
    return Problem(
        NAME,
        f"table {contract.table}",
        f"{count} rows break the unique key ({', '.join(key)}): duplicated or null",
        sample,
        hint=f"keep one row per key, or correct the key in the contract {contract.path}",
    )


def _references(
    conn: duckdb.DuckDBPyConnection, contract: Contract, rule: ColumnRule, shown: Sequence[str]
) -> list[Problem]:
    table, key = rule.value
    col = _ident(rule.column)
    if _columns(conn, table) is None:
        return [
            Problem(
                NAME,
                f"table {contract.table}",
                f"{rule.describe()}, but table {table} does not exist",
            )
        ]
    cols = ", ".join(f"t.{_ident(c)}" for c in dict.fromkeys([*shown, rule.column]))
    orphans = (
        f"FROM {table_sql(contract.table)} t ANTI JOIN {table_sql(table)} r "
        f"ON t.{col} = r.{_ident(key)} WHERE t.{col} IS NOT NULL"
    )
    try:
        count = conn.execute(f"SELECT count(*) {orphans}").fetchone()
        if not count or not count[0]:
            return []
        sample = _rows(conn.execute(f"SELECT {cols} {orphans} LIMIT {SAMPLE_ROWS}"))
    except duckdb.Error as exc:
        raise VxpError(f"contract {contract.path}: DuckDB refused its query: {exc}") from exc
    return [
        Problem(
            NAME,
            f"table {contract.table}",
            f"{count[0]} rows break {rule.describe()}: no such key in {table}",
            sample,
            hint=f"add the missing keys to {table} first, or correct the rows",
        )
    ]


def touched_tables(env: CheckEnv, target: Target) -> set[str] | None:
    """The tables whose entry or contract the change touches, or None for "all" (no base).

    Raises:
        LakeFSError: lakeFS refused the diff.
    """
    if target.base is None:
        return None
    touched: set[str] = set()
    for entry in env.session.diff_refs(target.repository, target.base, target.ref, prefix="_vxp/"):
        parsed = parse_table_pointer(entry.path) if entry.path.startswith(TABLES) else None
        if parsed is not None:
            touched.add(".".join((*parsed[0], parsed[1])))
        elif entry.path.startswith(CONTRACTS + "/") and entry.path.endswith(SUFFIX):
            touched.add(entry.path.rsplit("/", 1)[-1].removesuffix(SUFFIX))
    return touched


def check(env: CheckEnv, target: Target, *, everything: bool = False) -> list[Problem]:
    """Run the contracts at ``target.ref`` whose table, contract or referenced table the change
    touches (every contract with ``everything``), in one DuckDB session.

    Raises:
        VxpError: DuckDB could not attach the ref, or refused a compiled query.
        LakeFSError: lakeFS refused a read.
    """
    contracts, problems = load_contracts(env, target.repository, target.ref)
    touched = None if everything else touched_tables(env, target)
    chosen = [
        c
        for c in contracts
        if touched is None or c.table in touched or touched.intersection(c.references)
    ]
    if not chosen:
        return problems
    pinned = re.fullmatch(r"[0-9a-f]{64}", target.ref) is not None
    if env.duckdb is not None:
        with env.duckdb.at(env.settings, target.repository, target.ref, pinned=pinned) as conn:
            for contract in chosen:
                problems += run_contract(conn, contract)
        return problems
    conn = duckdb_engine.session(
        env.cache, env.settings, target.repository, target.ref, pinned=pinned
    )
    try:
        for contract in chosen:
            problems += run_contract(conn, contract)
    finally:
        conn.close()
    return problems


def phi_columns(contracts: Sequence[Contract]) -> Mapping[str, tuple[str, ...]]:
    """Table → its columns marked ``phi: true``, for tables that have any."""
    return {c.table: c.phi for c in contracts if c.phi}
