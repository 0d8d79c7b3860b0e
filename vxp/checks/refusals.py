"""Why lakeFS answered 412: the hook run's output, read back and turned into vxp's words.

lakeFS reports a refused commit or merge only as ``412 <event> hook aborted, run id '…'``; the
webhook's request and the hooks server's whole response are in the hook run's output
(lakeFS API, ``getRunHookOutput``). The response body is the report of
:func:`vxp.checks.events.validate_event`.
"""

from __future__ import annotations

import json
from typing import Any

from vxp.checks.actions import SECRET_ENV
from vxp.checks.base import ChecksFailed, Problem
from vxp.core.errors import PreconditionFailed
from vxp.lakefs import LakeFSError, LakeFSPreconditionFailed, Session
from vxp.lakefs.actions import hook_output, hook_runs, list_runs, run_id_of

__all__ = ["explain_refusal", "parse_output"]

DOWN_HINT = "`vxp status` shows the hooks server; `vxp up` restarts it"


def parse_output(output: str) -> dict[str, Any] | None:
    """The hooks server's JSON answer inside a webhook hook's output, or None when there is no
    answer (the server could not be reached) or it is not JSON."""
    _, found, response = output.partition("\nResponse:\n")
    if not found:
        return None
    _, sep, body = response.replace("\r\n", "\n").partition("\n\n")
    if not sep:
        return None
    try:
        # lakeFS appends its own error line after the body: read one JSON value and stop
        parsed, _ = json.JSONDecoder().raw_decode(body.lstrip())
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def explain_refusal(
    session: Session, repository: str, branch: str, error: LakeFSPreconditionFailed
) -> PreconditionFailed:
    """The refusal in vxp's words: every problem the checks found (which check, on which table
    or object, a few offending rows, how to fix or override), or that the hooks server could not
    be reached (hooks fail closed).

    Args:
        branch: the branch the commit or merge aimed at (to find the run when lakeFS's message
            names none).
        error: lakeFS's 412.

    Returns:
        :class:`~vxp.checks.base.ChecksFailed` with the problems, else a
        :class:`~vxp.core.errors.PreconditionFailed` that says what is known.
    """
    where = f"{repository}/{branch}"
    if SECRET_ENV in error.detail:
        # lakeFS could not even build the webhook: it was started without the hooks secret
        return PreconditionFailed(
            f"lakeFS refused the change to {where}: it has no {SECRET_ENV} in its environment, "
            "so it cannot call the hooks server (hooks fail closed); nothing was changed",
            hint="restart lakeFS with vxp's settings: `vxp down`, then `vxp up` (compose: set "
            "HOOKS_SECRET in .env and recreate the lakefs service)",
        )
    try:
        run_id = run_id_of(error.detail)
        if run_id is None:
            runs = [
                r for r in list_runs(session, repository, branch=branch) if r.status == "failed"
            ]
            run_id = runs[0].run_id if runs else None
        if run_id is None:
            return PreconditionFailed(f"lakeFS refused the change to {where}: {error.detail}")
        failed = [h for h in hook_runs(session, repository, run_id) if h.status == "failed"]
        problems: list[Problem] = []
        reasons: list[str] = []
        for hook in failed:
            output = hook_output(session, repository, run_id, hook.hook_run_id)
            answer = parse_output(output)
            if answer is None:
                reasons.append(
                    f"hook {hook.action}/{hook.hook_id} got no answer from the hooks server, so "
                    "lakeFS refuses every commit and merge to the layer branch (hooks fail "
                    f"closed); lakeFS's log of the call:\n{output.strip()[-600:]}"
                )
            elif answer.get("problems"):
                problems += [Problem.from_json(p) for p in answer["problems"]]
            else:
                reasons.append(f"hook {hook.action}/{hook.hook_id}: {answer.get('error', answer)}")
    except LakeFSError as exc:
        return PreconditionFailed(
            f"lakeFS refused the change to {where} ({error.detail}); its hook log could not be "
            f"read: {exc}"
        )
    if problems and not reasons:
        return ChecksFailed(problems, where)
    text = "\n".join(reasons + [p.describe() for p in problems]) or error.detail
    return PreconditionFailed(
        f"lakeFS's hooks refused the change to {where} (run {run_id}); nothing was changed:\n"
        f"{text}",
        hint=DOWN_HINT,
    )
