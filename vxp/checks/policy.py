"""Layer policy (DESIGN.md, "Versioning model": layer branches change only by merge; ingestion
branches ``ingest-<source>-<run>`` are cut from ``source``, validated and merged).

By default:

- only ``ingest-*`` branches merge into ``source``;
- table writes aimed straight at ``source`` or ``integration`` (the catalog commits them by
  merging its own temporary ``vxp-catalog-*`` branch) are refused: write on a work branch and
  merge it.

A repository changes that with ``_vxp/policy.yaml``, read at the destination's commit before the
change, so a change cannot grant itself a right::

    merge_into_source_from: ["ingest-*", "backfill-*"]
    table_writes_on: [integration]
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import yaml

from vxp.checks.base import CheckEnv, Problem
from vxp.core.names import CATALOG_BRANCH_PREFIX

NAME = "layer-policy"
POLICY = "_vxp/policy.yaml"
KEY = "merge_into_source_from"
DEFAULT = ("ingest-*",)
WRITES_KEY = "table_writes_on"
#: temporary branches vxp's own tools merge from: the merge path's and `vxp hooks install`'s
VXP_TEMPORARY = ("vxp-merge-*", "vxp-hooks-install-*")
#: the catalog's temporary branches: one per table commit (catalog/leftovers.py)
CATALOG_TEMPORARY = f"{CATALOG_BRANCH_PREFIX}*"
GUARDED = ("source", "integration")


def _policy(env: CheckEnv, repository: str, ref: str) -> tuple[dict[str, Any], list[Problem]]:
    raw = env.session.get_object(repository, ref, POLICY)
    if raw is None:
        return {}, []
    try:
        body = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        return {}, [Problem(NAME, POLICY, f"not valid YAML: {exc}")]
    if body is None:
        return {}, []
    if not isinstance(body, dict):
        return {}, [Problem(NAME, POLICY, f"a mapping of {KEY} and {WRITES_KEY}")]
    return body, []


def _patterns(body: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...] | None:
    value = body.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        return None
    return tuple(value)


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
    body, problems = _policy(env, repository, ref)
    patterns = _patterns(body, KEY, DEFAULT)
    if patterns is None:
        return DEFAULT, [*problems, Problem(NAME, POLICY, f"{KEY} is a list of branch patterns")]
    return patterns, problems


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


def check_event(
    env: CheckEnv, repository: str, merge_source: str, destination: str, base: str | None
) -> list[Problem]:
    """The layer policy for a merge lakeFS reports to the hooks server: a table write aimed
    straight at ``source`` or ``integration`` (merged from the catalog's temporary branch), or a
    merge into ``source`` from a branch the policy does not name (vxp's own temporary branches
    pass: the merge path checked their source itself).

    Raises:
        LakeFSError: lakeFS refused a read.
    """
    if destination not in GUARDED or base is None or not merge_source:
        return []
    body, problems = _policy(env, repository, base)
    if fnmatchcase(merge_source, CATALOG_TEMPORARY):
        allowed = _patterns(body, WRITES_KEY, ())
        if allowed is None:
            return [*problems, Problem(NAME, POLICY, f"{WRITES_KEY} is a list of branch names")]
        if destination in allowed:
            return problems
        return [
            *problems,
            Problem(
                NAME,
                f"branch {destination}",
                f"tables are not written straight into {destination}: it changes only by merge",
                hint=f"write on a work branch (vxp branch create NAME --from {destination}; "
                "vxp sql … --ref NAME) and `vxp merge NAME "
                f"{destination}`, or ingest with `vxp ingest …`; a repository can allow it "
                f"with {WRITES_KEY}: [{destination}] in {POLICY}",
            ),
        ]
    if destination != "source" or any(fnmatchcase(merge_source, p) for p in VXP_TEMPORARY):
        return problems
    patterns = _patterns(body, KEY, DEFAULT) or DEFAULT
    if any(fnmatchcase(merge_source, p) for p in patterns):
        return problems
    return [
        *problems,
        Problem(
            NAME,
            f"branch {merge_source}",
            f"only {', '.join(patterns)} branches merge into source (the raw layer)",
            hint="ingest with `vxp ingest …`; a repository can widen the rule in " + POLICY,
        ),
    ]
