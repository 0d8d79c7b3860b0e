"""Layer policy: which branches may be merged into ``source`` (DESIGN.md, "Versioning model":
ingestion branches ``ingest-<source>-<run>`` are cut from ``source``, validated and merged).

By default only ``ingest-*`` branches merge into ``source``; a repository may widen or narrow
that with ``_vxp/policy.yaml`` on ``source`` (read at the destination's commit, so a merge cannot
grant itself the right)::

    merge_into_source_from: ["ingest-*", "backfill-*"]
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import yaml

from vxp.checks.base import CheckEnv, Problem

NAME = "layer-policy"
POLICY = "_vxp/policy.yaml"
KEY = "merge_into_source_from"
DEFAULT = ("ingest-*",)


def allowed_sources(
    env: CheckEnv, repository: str, ref: str
) -> tuple[tuple[str, ...], list[Problem]]:
    """The branch patterns that may merge into ``source``, from ``_vxp/policy.yaml`` at ``ref``.

    Returns:
        ``(patterns, problems)``: the default when the file is absent; problems (and the default)
        when it is malformed.

    Raises:
        LakeFSError: lakeFS refused the read.
    """
    raw = env.session.get_object(repository, ref, POLICY)
    if raw is None:
        return DEFAULT, []
    try:
        body = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        return DEFAULT, [Problem(NAME, POLICY, f"not valid YAML: {exc}")]
    patterns = body.get(KEY) if isinstance(body, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        return DEFAULT, [Problem(NAME, POLICY, f"{KEY} is a list of branch name patterns")]
    return tuple(patterns), []


def check_merge(
    env: CheckEnv, repository: str, source: str, destination: str, base: str
) -> list[Problem]:
    """A problem when ``source`` may not be merged into ``destination`` (only ``source`` has a
    rule: its merges come from the patterns :func:`allowed_sources` gives).

    Raises:
        LakeFSError: lakeFS refused a read.
    """
    if destination != "source":
        return []
    patterns, problems = allowed_sources(env, repository, base)
    if any(fnmatchcase(source, p) for p in patterns):
        return problems
    return [
        *problems,
        Problem(
            NAME,
            f"branch {source}",
            f"only {', '.join(patterns)} branches merge into source (the raw layer)",
            hint="ingest with `vxp ingest …` (it cuts an ingest-* branch and merges it), or "
            f"merge your work into integration; a repository can widen the rule in {POLICY}",
        ),
    ]
