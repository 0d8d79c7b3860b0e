"""Source immutability: on ``source``, objects under ``raw/`` may be added, never changed or
deleted (DESIGN.md, "What a ref holds": every delivered file, byte for byte)."""

from __future__ import annotations

from vxp.checks.base import CheckEnv, Problem, Target

NAME = "source-immutability"
BRANCH = "source"
PREFIX = "raw/"
# a delivery that rewrites thousands of files must not produce thousands of problems
SHOWN = 20


def applies(target: Target) -> bool:
    """True for changes to ``source`` that have a base to compare with."""
    return target.branch == BRANCH and target.base is not None


def check(env: CheckEnv, target: Target) -> list[Problem]:
    """Every object under ``raw/`` the change would change or delete (the first :data:`SHOWN`,
    then one problem that counts the rest).

    Compares the branch's commit before the change with the proposed tree (lakeFS's two-dot
    diff, limited to ``raw/``).

    Raises:
        LakeFSError: lakeFS refused the diff (:class:`~vxp.lakefs.LakeFSUnreachable` when down).
    """
    if target.base is None:
        return []
    problems: list[Problem] = []
    extra = 0
    for entry in env.session.diff_refs(target.repository, target.base, target.ref, prefix=PREFIX):
        if entry.type == "added":
            continue
        if len(problems) >= SHOWN:
            extra += 1
            continue
        verb = "deletes" if entry.type == "removed" else "changes"
        problems.append(
            Problem(
                NAME,
                f"object {entry.path}",
                f"the change {verb} a delivered file; files under raw/ on source are only ever "
                "added",
                hint="deliver the corrected file as a new run (vxp ingest …), which adds it under "
                "its own raw/<source>/<run>/ folder",
            )
        )
    if extra:
        problems.append(
            Problem(NAME, "objects under raw/", f"and {extra} more changed or deleted files")
        )
    return problems
