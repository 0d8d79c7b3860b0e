"""Problems found in a delivery: what validation reports instead of raising.

Validation of a delivery collects *every* problem at once (issue 9, deliverable 2) so a data
manager can fix a delivery in one round trip. Each problem names a stable dotted ``code`` (the
table of codes is in ``docs/reference/study-dictionary.md``), a plain sentence, and where it is:
the file (posix path relative to the delivery folder), the 1-based physical line, and the column.

A delivery with any problem of severity ``error`` must write nothing; ``warning`` problems are
reported and do not stop the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rich.table import Table


class Severity(StrEnum):
    """How bad a problem is: an ``error`` stops the delivery, a ``warning`` does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One problem of a delivery.

    Attributes:
        code: stable dotted identifier, e.g. ``"value.type"``, ``"row.ragged"``,
            ``"key.duplicate"``; tools and tests match on it, never on ``message``.
        message: a plain sentence saying what is wrong (and, where useful, what to do).
        file: path of the file relative to the delivery folder (posix separators), or ``None``
            for problems of the delivery as a whole.
        line: 1-based physical line of ``file`` (for SAS transport files: the 1-based record
            number, the header not counted), or ``None``.
        column: the column (variable) name, or ``None``.
        severity: ``error`` (the delivery is rejected) or ``warning``.
    """

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: str | None = None
    severity: Severity = Severity.ERROR

    def to_json(self) -> dict[str, Any]:
        """Return the problem as a JSON-ready dict with keys ``code``, ``severity``,
        ``message``, ``file``, ``line``, ``column`` (absent locations are ``null``)."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }

    def sort_key(self) -> tuple[str, int, str, str, str]:
        """Order used by :meth:`Problems.sorted`: file, line, column, code, message
        (missing parts sort first)."""
        return (
            self.file or "",
            self.line if self.line is not None else 0,
            self.column or "",
            self.code,
            self.message,
        )


class Problems:
    """An ordered collector of :class:`Problem` s.

    Iteration yields problems in the order they were added; :meth:`sorted` gives the stable
    report order (file, line, column, code).
    """

    def __init__(self, problems: Iterable[Problem] = ()) -> None:
        self._items: list[Problem] = list(problems)

    def add(self, problem: Problem) -> Problem:
        """Append ``problem`` and return it."""
        self._items.append(problem)
        return problem

    def error(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> Problem:
        """Shorthand: add an ``error`` problem and return it."""
        return self.add(Problem(code, message, file, line, column, Severity.ERROR))

    def warning(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> Problem:
        """Shorthand: add a ``warning`` problem and return it."""
        return self.add(Problem(code, message, file, line, column, Severity.WARNING))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Append all of ``problems`` (another :class:`Problems` or any iterable)."""
        self._items.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity ``error``, in insertion order."""
        return [p for p in self._items if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        """The problems of severity ``warning``, in insertion order."""
        return [p for p in self._items if p.severity is Severity.WARNING]

    @property
    def has_errors(self) -> bool:
        """True when at least one problem is an error (the delivery must write nothing)."""
        return any(p.severity is Severity.ERROR for p in self._items)

    def codes(self) -> set[str]:
        """The set of codes present (handy in tests and summaries)."""
        return {p.code for p in self._items}

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __repr__(self) -> str:
        return f"Problems({len(self.errors)} errors, {len(self.warnings)} warnings)"

    def sorted(self) -> list[Problem]:
        """All problems ordered by (file, line, column, code, message)."""
        return sorted(self._items, key=Problem.sort_key)

    def to_json(self) -> list[dict[str, Any]]:
        """All problems, sorted, as a list of :meth:`Problem.to_json` dicts."""
        return [p.to_json() for p in self.sorted()]


def problems_table(problems: Iterable[Problem], *, title: str | None = "Problems") -> Table:
    """Render problems as a :class:`rich.table.Table` (sorted; one row per problem).

    Columns: severity, file, line, column, code, message. Missing locations print as empty.
    """
    table = Table(title=title, show_lines=False)
    table.add_column("severity")
    table.add_column("file", overflow="fold")
    table.add_column("line", justify="right")
    table.add_column("column")
    table.add_column("code")
    table.add_column("message", overflow="fold")
    for p in sorted(problems, key=Problem.sort_key):
        style = "red" if p.severity is Severity.ERROR else "yellow"
        table.add_row(
            f"[{style}]{p.severity}[/{style}]",
            p.file or "",
            "" if p.line is None else str(p.line),
            p.column or "",
            p.code,
            p.message,
        )
    return table
