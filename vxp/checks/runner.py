"""Run every check that applies to a change and gather every problem at once."""

from __future__ import annotations

import logging

from vxp.checks import contracts, immutability, phi, schema
from vxp.checks.base import CheckEnv, Problem, Report, Target, is_layer

log = logging.getLogger(__name__)

__all__ = ["run_checks"]


def run_checks(env: CheckEnv, target: Target) -> Report:
    """Every check that applies to ``target``'s branch, run at ``target.ref``.

    ``source``: source immutability; ``integration``: schema compatibility; ``app-*``: no PHI;
    every layer branch (``source``, ``integration``, ``app-*``): data contracts. Other branches
    get no checks (an empty, passing report).

    Returns:
        The report: every problem of every check, and notes such as allowed schema breaks.

    Raises:
        VxpError: a table's metadata cannot be read, or DuckDB cannot attach the ref.
        LakeFSError: lakeFS refused a read (:class:`~vxp.lakefs.LakeFSUnreachable` when down).
    """
    ran: list[str] = []
    problems: list[Problem] = []
    notes: list[str] = []
    if not is_layer(target.branch):
        return Report(target, (), ())
    if immutability.applies(target):
        ran.append(immutability.NAME)
        problems += immutability.check(env, target)
    if schema.applies(target):
        ran.append(schema.NAME)
        found, allowed = schema.check(env, target)
        problems += found
        notes += allowed
    if phi.applies(target):
        ran.append(phi.NAME)
        problems += phi.check(env, target)
    ran.append(contracts.NAME)
    problems += contracts.check(env, target)
    for note in notes:
        # an allowed break is kept in the log (the reason also stays in the merge's metadata)
        log.warning("%s/%s: %s", target.repository, target.branch, note)
    return Report(target, tuple(ran), tuple(problems), tuple(notes))
