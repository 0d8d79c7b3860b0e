"""``checked_merge``: the one merge path (:func:`vxp.domain.merging.merge`) with every check.

The checks run in this process on the merged tree before it lands, so a merge is refused even
where lakeFS's hooks would not run (lakeFS reads pre-merge actions from the merge's source, and a
source without ``_lakefs_actions/`` merges unchecked). The landing merge then runs lakeFS's own
pre-merge hook, whose hooks server leaves the signed record ``vxp audit`` looks for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from vxp.checks import policy
from vxp.checks.actions import ACTIONS_DIR, differences, read_actions
from vxp.checks.base import CheckEnv, ChecksFailed, Problem, Target, WarmDuckDB, is_layer
from vxp.checks.refusals import explain_refusal
from vxp.checks.runner import run_checks
from vxp.core.home import Home
from vxp.core.settings import Settings
from vxp.domain import merging
from vxp.domain.merging import MergeCandidate, MergeResult
from vxp.domain.table_merge import Strategy
from vxp.lakefs import LakeFSPreconditionFailed, Session

__all__ = ["checked_merge", "merge_check"]


def merge_check(
    env: CheckEnv, metadata: Mapping[str, str] | None = None
) -> Callable[[MergeCandidate], None]:
    """The ``check`` callback of :func:`vxp.domain.merging.merge`: every check for the
    destination, a refusal when the merged tree's ``_lakefs_actions/`` differ from the
    destination's (a source that drops or edits them would switch lakeFS's hooks off), and the
    layer policy (:mod:`vxp.checks.policy`: only ``ingest-*`` branches merge into ``source``).

    Args:
        metadata: the merge's metadata (``vxp.allow-breaking``).

    Returns:
        A callable that raises :class:`~vxp.checks.base.ChecksFailed` with every problem.
    """

    def check(candidate: MergeCandidate) -> None:
        if not is_layer(candidate.destination):
            return
        repository = candidate.repository
        problems: list[Problem] = []
        installed = read_actions(env.session, repository, candidate.destination_commit)
        merged = read_actions(env.session, repository, candidate.merged_commit)
        wrong = differences(merged, installed)
        if wrong:
            problems.append(
                Problem(
                    "actions",
                    f"folder {ACTIONS_DIR}",
                    f"{candidate.source!r} changes the installed lakeFS actions of "
                    f"{candidate.destination!r}: {'; '.join(wrong)}",
                    hint=f"restore {ACTIONS_DIR} on {candidate.source!r} from "
                    f"{candidate.destination!r}; `vxp hooks install` is the one way to change "
                    "them",
                )
            )
        problems += policy.check_merge(
            env, repository, candidate.source, candidate.destination, candidate.destination_commit
        )
        target = Target(
            repository,
            candidate.destination,
            candidate.merged_commit,
            candidate.destination_commit,
            dict(metadata or {}),
            candidate.source,
        )
        problems += run_checks(env, target).problems
        if problems:
            raise ChecksFailed(problems, f"{repository}/{candidate.destination}")

    return check


def checked_merge(
    session: Session,
    repository: str,
    source: str,
    destination: str,
    *,
    message: str | None = None,
    metadata: Mapping[str, str] | None = None,
    strategies: Mapping[str, Strategy] | None = None,
    settings: Settings | None = None,
    cache: Path | None = None,
    duckdb: WarmDuckDB | None = None,
) -> MergeResult:
    """:func:`vxp.domain.merging.merge` with every check of the destination layer.

    Args:
        metadata: merge metadata; ``vxp.allow-breaking=<reason>`` lets a schema break into
            ``integration`` (the reason stays in the merge commit and the hooks log).
        settings: client settings for the DuckDB engine (default :meth:`Settings.load`).
        cache: the vxp cache with DuckDB's extensions (default ``$VXP_CACHE``).
        duckdb: a warm DuckDB to reuse in a long-lived process (ingestion, CI); None loads
            DuckDB's extensions for this merge (about 1 s).

    Returns:
        The merge, as :func:`vxp.domain.merging.merge` returns it.

    Raises:
        ChecksFailed: a check refused the merge (every problem listed); nothing changed.
        PreconditionFailed: lakeFS's hooks refused it (their log's reason; also when the hooks
            server is down: hooks fail closed).
        MergeConflict, NotFound, InvalidInput, Conflict, LakeFSError: as
            :func:`vxp.domain.merging.merge`.
    """
    settings = settings or Settings.load()
    env = CheckEnv(session, settings, cache or Home.from_env().cache, duckdb)
    try:
        return merging.merge(
            session,
            repository,
            source,
            destination,
            message=message,
            metadata=metadata,
            strategies=strategies,
            # work branches have no checks: no temporary branch for them
            check=merge_check(env, metadata) if is_layer(destination) else None,
            settings=settings,
        )
    except LakeFSPreconditionFailed as exc:
        raise explain_refusal(session, repository, destination, exc) from exc
