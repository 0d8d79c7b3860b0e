"""What an ingestion run reports: the one JSON summary of ``--ci`` and the final table.

Exit codes (``docs/reference/ingestion.md``): 0 landed or unchanged (or landed without merge),
1 invalid input, 3 conflict, 4 platform unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from .integration import TableChange
from .problems import Problem, Problems
from .study.checks import PROBLEM_LIMIT

__all__ = ["Outcome", "Progress", "RunReport", "SilentProgress", "omitted"]

#: the summary problem of :func:`vxp.ingestion.study.checks.more_problems`
_MORE = re.compile(r"… and ([\d,]+) more ")


def omitted(problem: Problem) -> int:
    """How many problems ``problem`` stands for beyond itself: ``n`` for the summary problem
    "… and n more …" of a file past the per-kind limit (``PROBLEM_LIMIT``), else 0."""
    found = _MORE.match(problem.message)
    return int(found.group(1).replace(",", "")) if found else 0


class Outcome(StrEnum):
    """How a run ended."""

    LANDED = "landed"  # merged into source and integration
    STAGED = "staged"  # landed on the run's branches; --no-merge
    UNCHANGED = "unchanged"  # the same delivery is already integrated: no commit
    INVALID = "invalid"  # the delivery has errors: nothing written
    CONFLICT = "conflict"  # a merge conflicted and re-planning did not help

    @property
    def exit_code(self) -> int:
        return {Outcome.INVALID: 1, Outcome.CONFLICT: 3}.get(self, 0)


@dataclass
class RunReport:
    """The summary of one run (``--ci`` prints it as JSON)."""

    source: str
    repository: str
    outcome: Outcome = Outcome.LANDED
    run: str | None = None
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)
    changes: list[TableChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)
    resumed: bool = False
    #: what the landing sent (files, bytes; files found landed or stored by an earlier run)
    transfer: dict[str, int] = field(default_factory=dict)
    #: files kept under quarantine/<source>/<run>/ (``--quarantine``), relative paths
    quarantined: list[str] = field(default_factory=list)

    @property
    def error_total(self) -> int:
        """Every error of the delivery, the ones past the per-kind limit counted too (a summary
        problem "… and n more" stands for ``n`` errors, not for one)."""
        return sum(omitted(p) or 1 for p in self.problems.errors)

    def error_summary(self) -> str:
        """The sentence that ends an invalid run, e.g. "the delivery has 9,001 errors (the
        first 100 of each kind are listed)"; the note only when some are not listed."""
        total = self.error_total
        note = ""
        if any(omitted(p) for p in self.problems.errors):
            note = f" (the first {PROBLEM_LIMIT} of each kind are listed)"
        return f"the delivery has {total:,} error{'' if total == 1 else 's'}{note}"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "repository": self.repository,
            "outcome": str(self.outcome),
            "run": self.run,
            "resumed": self.resumed,
            "branches": self.branches,
            "commits": self.commits,
            "tables": [c.to_json() for c in sorted(self.changes, key=lambda c: c.table)],
            "warnings": [
                *self.warnings,
                *(
                    f"{p.file}: {p.message}" if p.file else p.message
                    for p in self.problems.warnings
                ),
            ],
            "errors": [p.to_json() for p in sorted(self.problems.errors, key=_order)],
            **({"transfer": self.transfer} if self.transfer else {}),
            **({"quarantined": self.quarantined} if self.quarantined else {}),
        }


def _order(problem: Any) -> Any:
    return problem.sort_key()


class Progress(Protocol):
    """Where a run reports its phases (a progress bar on a terminal, nothing with ``--ci``)."""

    def phase(
        self, name: str, total: int | None = None, unit: str = "items", items: int | None = None
    ) -> None:
        """A new phase starts; ``total`` units of work (None: unknown); for a phase counted in
        bytes, ``items`` files (each :meth:`advance` call is one file done)."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` units of the current phase are done."""

    def say(self, message: str) -> None:
        """A line for the user (rich markup allowed)."""


class SilentProgress:
    """Reports nothing (``--ci``, tests)."""

    def phase(
        self, name: str, total: int | None = None, unit: str = "items", items: int | None = None
    ) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None

    def say(self, message: str) -> None:
        return None


def counting(progress: Progress) -> Callable[[int], None]:
    """A callback that advances ``progress`` by its argument (bytes, files)."""
    return progress.advance
