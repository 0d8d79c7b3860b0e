"""What every check shares: the tree it checks (:class:`Target`), where it reads from
(:class:`CheckEnv`), what it finds (:class:`Problem`) and the error that refuses a change."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from vxp.core.errors import PreconditionFailed
from vxp.core.settings import Settings
from vxp.domain.engines import duckdb as duckdb_engine
from vxp.domain.engines.common import REF_CATALOG
from vxp.lakefs import Session

__all__ = [
    "ALLOW_BREAKING",
    "APP_PREFIX",
    "CheckEnv",
    "ChecksFailed",
    "Problem",
    "Report",
    "Target",
    "WarmDuckDB",
    "is_layer",
]

#: merge metadata key whose value (a reason) lets a merge into ``integration`` break a schema
ALLOW_BREAKING = "vxp.allow-breaking"
#: application branches: ``app-<project>`` (DESIGN.md, "Versioning model")
APP_PREFIX = "app-"
#: rows of offending values a problem shows
SAMPLE_ROWS = 5


def is_layer(branch: str) -> bool:
    """True for the branches the checks guard: ``source``, ``integration`` and ``app-*``."""
    return branch in ("source", "integration") or branch.startswith(APP_PREFIX)


@dataclass(frozen=True)
class Target:
    """The tree a change would give a branch, and what the branch held before.

    Attributes:
        repository: the repository.
        branch: the branch the change lands on (a merge's destination).
        ref: a ref that holds the proposed tree: the merged commit of a pre-merge (lakeFS's
            payload ``commit_id``), the branch itself for a pre-commit (its staged changes).
        base: the commit the branch pointed at before the change, or None for a new branch.
        metadata: the commit's or merge's metadata (``vxp.allow-breaking``).
        source: the ref merged from, or None for a commit.
    """

    repository: str
    branch: str
    ref: str
    base: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None


class WarmDuckDB:
    """One DuckDB connection with vxp's extensions loaded once, for a long-lived process.

    Loading the extensions costs about a second (measured: 0.93-1.08 s against 0.03 s for the
    ``ATTACH`` and 0.05 s for a contract on 100,000 rows), which a hooks server would pay on
    every commit. Refs are attached one at a time under a lock and detached afterwards.

    Args:
        cache: the vxp cache with DuckDB's extensions.
    """

    def __init__(self, cache: Path) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._conn: duckdb.DuckDBPyConnection | None = None

    @contextmanager
    def at(
        self, settings: Settings, repository: str, ref: str, *, pinned: bool
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with ``ref`` attached as ``lake``, for the duration of the block.

        Raises:
            VxpError: an extension is missing, or DuckDB could not attach the ref.
        """
        with self._lock:
            if self._conn is None:
                self._conn = duckdb_engine.connect(self._cache)
            conn = self._conn
            duckdb_engine.attach(conn, settings, repository, ref, REF_CATALOG, immutable=pinned)
            try:
                yield conn
            finally:
                conn.execute(f"DETACH {REF_CATALOG}")


@dataclass(frozen=True)
class CheckEnv:
    """Where checks read from.

    Attributes:
        session: a lakeFS session that may read the repository.
        settings: the client settings (catalog URI, S3) the DuckDB engine needs.
        cache: the vxp cache (``$VXP_CACHE``) holding DuckDB's extensions.
        duckdb: a warm connection to reuse (the hooks server's), or None for a new one per check.
        phi_sources: more sources of PHI marks than contracts, each giving table → columns
            (the hooks server adds the delivered data dictionaries).
    """

    session: Session
    settings: Settings
    cache: Path
    duckdb: WarmDuckDB | None = None
    phi_sources: tuple[Callable[[CheckEnv, Target], Mapping[str, set[str]]], ...] = ()


@dataclass(frozen=True)
class Problem:
    """One reason to refuse a change.

    Attributes:
        check: the check's name (``source-immutability``, ``schema``, ``contract``, ``phi``).
        subject: what it is about: ``table basel.patients``, ``object raw/…``, a contract file.
        message: what is wrong, in one sentence.
        rows: a few offending rows or values (at most :data:`SAMPLE_ROWS`).
        hint: how to fix or override it, or None.
    """

    check: str
    subject: str
    message: str
    rows: tuple[Mapping[str, Any], ...] = ()
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The problem as JSON (the hooks server's answer, ``--format json``)."""
        return {
            "check": self.check,
            "subject": self.subject,
            "message": self.message,
            "rows": [{k: _jsonable(v) for k, v in row.items()} for row in self.rows],
            "hint": self.hint,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Problem:
        """The inverse of :meth:`to_json`.

        Raises:
            KeyError: ``check``, ``subject`` or ``message`` is missing.
        """
        return cls(
            check=str(body["check"]),
            subject=str(body["subject"]),
            message=str(body["message"]),
            rows=tuple(dict(r) for r in body.get("rows") or ()),
            hint=body.get("hint"),
        )

    def describe(self) -> str:
        """Several lines: ``<check> check, <subject>: <message>``, the sample rows, the fix.

        No square brackets: the CLI prints messages with rich, which reads ``[word]`` as markup.
        """
        lines = [f"{self.check} check, {self.subject}: {self.message}"]
        lines += [f"    {json.dumps(row, default=str, sort_keys=True)}" for row in self.rows]
        if self.hint:
            lines.append(f"    fix: {self.hint}")
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class Report:
    """Everything the checks found about one change.

    Attributes:
        target: what was checked.
        checks: the names of the checks that ran.
        problems: every problem found; empty when the change may land.
        notes: things to keep in the log that are not problems (an allowed breaking change).
    """

    target: Target
    checks: tuple[str, ...]
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when no check found a problem."""
        return not self.problems

    def describe(self) -> str:
        """The report for people: one block per problem, then the notes."""
        where = f"{self.target.repository}/{self.target.branch}"
        if self.passed:
            head = f"every check passed for {where} ({', '.join(self.checks) or 'none applied'})"
        else:
            head = f"{len(self.problems)} problem(s) refuse the change to {where}:"
        body = [p.describe() for p in self.problems] + [f"note: {n}" for n in self.notes]
        return "\n".join([head, *body])

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (the hooks server's answer)."""
        return {
            "repository": self.target.repository,
            "branch": self.target.branch,
            "ref": self.target.ref,
            "passed": self.passed,
            "checks": list(self.checks),
            "problems": [p.to_json() for p in self.problems],
            "notes": list(self.notes),
        }


class ChecksFailed(PreconditionFailed):
    """The checks refused a change; nothing was changed.

    Args:
        problems: every problem found.
        where: the branch, e.g. ``clinical/integration``.

    Attributes:
        problems: every problem found.
    """

    def __init__(self, problems: Sequence[Problem], where: str) -> None:
        blocks = "\n".join(p.describe() for p in problems)
        breaking = any(p.check == "schema" for p in problems)
        super().__init__(
            f"the checks refused the change to {where} ({len(problems)} problem(s)); "
            f"nothing was changed:\n{blocks}",
            hint=f"a schema change that must break passes with merge metadata {ALLOW_BREAKING}="
            "<reason>"
            if breaking
            else None,
        )
        self.problems = list(problems)
