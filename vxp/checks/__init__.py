"""Checks of a commit or merge into a layer branch (DESIGN.md, "Hooks").

One module per check, each a function ``check(env, target) -> list[Problem]``:
:mod:`.immutability` (``raw/`` on ``source``: add only), :mod:`.schema` (no dropped, renamed or
narrowed column in ``integration``), :mod:`.contracts` (``_vxp/contracts/*.yaml``), :mod:`.phi`
(no PHI column in ``app-*``). :func:`run_checks` runs every check that applies and reports every
problem at once; :func:`vxp.checks.merge.checked_merge` is the one merge path with the checks in
it (imported from its module, so the hooks server does not load the merge machinery).
"""

from vxp.checks.base import CheckEnv, ChecksFailed, Problem, Report, Target
from vxp.checks.runner import run_checks

__all__ = ["CheckEnv", "ChecksFailed", "Problem", "Report", "Target", "run_checks"]
