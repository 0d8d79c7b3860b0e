"""The lakeFS action that calls the hooks server, its validation, and its installation.

lakeFS runs the actions under ``_lakefs_actions/`` on pre-commit and pre-merge (lakeFS docs,
"Actions and Hooks"). Measured on lakeFS 1.86 (its source, ``pkg/catalog/actions_source.go``,
``pkg/actions``): pre-merge actions are read from the merge's *source* commit, action files are
cached for 5 s plus up to 2.5 s of jitter keyed by repository and ref (a branch name for a
pre-commit, a commit ID for a pre-merge, so merges never see a stale file), a malformed file
fails every hook run of the branch with a 500, and header values ``{{ ENV.LAKEFSACTION_… }}``
come from lakeFS's environment, so the hooks secret is never written into the repository.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from vxp.checks.base import APP_PREFIX, Problem
from vxp.core.errors import InvalidInput
from vxp.lakefs import LakeFSNotFound, Session

__all__ = [
    "ACTIONS_DIR",
    "ACTION_FILE",
    "INSTALL_METADATA",
    "SECRET_ENV",
    "WEBHOOK_PATH",
    "Installed",
    "differences",
    "install",
    "layer_branches",
    "read_actions",
    "render",
    "validate",
]

ACTIONS_DIR = "_lakefs_actions/"
ACTION_FILE = ACTIONS_DIR + "vxp-checks.yaml"
#: lakeFS reads ``{{ ENV.<name> }}`` only from variables with its ``actions.env.prefix``
SECRET_ENV = "LAKEFSACTION_VXP_HOOKS_SECRET"  # noqa: S105 - a variable's name
WEBHOOK_PATH = "/v1/lakefs/webhook"
#: merge metadata of an installation: ``vxp hooks install``
INSTALL_METADATA = "vxp.hooks.install"
BRANCH_PATTERNS = ("source", "integration", APP_PREFIX + "*")
#: how long lakeFS waits for the hooks server before failing the hook (closed)
TIMEOUT = "5m"

# lakeFS's own rules, pkg/actions/action.go
_NAME = re.compile(r"^\w[\w\-. ]+$")
_HOOK_ID = re.compile(r"^[_a-zA-Z][\-_a-zA-Z0-9]{1,255}$")
_EVENTS = frozenset(
    {
        "pre-commit",
        "post-commit",
        "pre-merge",
        "post-merge",
        "pre-create-branch",
        "post-create-branch",
        "pre-delete-branch",
        "post-delete-branch",
        "pre-create-tag",
        "post-create-tag",
        "pre-delete-tag",
        "post-delete-tag",
        "pre-revert",
        "post-revert",
        "pre-cherry-pick",
        "post-cherry-pick",
    }
)
_HOOK_TYPES = frozenset({"webhook", "airflow", "lua"})


def render(url: str) -> dict[str, bytes]:
    """The action files for a hooks server lakeFS reaches at ``url`` (``http://host:port``).

    Returns:
        Path in the ref → content: one action with one webhook on pre-commit and pre-merge of
        ``source``, ``integration`` and ``app-*``, and on pre-create-branch of ``app-*`` (a new
        application branch must not start from a commit that holds PHI: lakeFS runs the hook
        before the branch exists and refuses it on anything but 2xx), its secret from lakeFS's
        environment.
    """
    action = {
        "name": "vxp checks",
        "description": "vxp validates every commit and merge into a layer branch "
        "(managed by `vxp hooks install`; do not edit)",
        "on": {
            "pre-commit": {"branches": list(BRANCH_PATTERNS)},
            "pre-merge": {"branches": list(BRANCH_PATTERNS)},
            "pre-create-branch": {"branches": [APP_PREFIX + "*"]},
        },
        "hooks": [
            {
                "id": "vxp_checks",
                "type": "webhook",
                "description": "source immutability, schema compatibility, contracts, no PHI "
                "(also on a new app-* branch's source commit)",
                "properties": {
                    "url": url.rstrip("/") + WEBHOOK_PATH,
                    "timeout": TIMEOUT,
                    "headers": {"Authorization": "Bearer {{ ENV." + SECRET_ENV + " }}"},
                },
            }
        ],
    }
    return {ACTION_FILE: yaml.safe_dump(action, sort_keys=False).encode()}


def _problem(path: str, message: str) -> Problem:
    return Problem("actions", path, message, hint="`vxp hooks install` writes a valid one")


def validate(files: Mapping[str, bytes]) -> list[Problem]:
    """Every way ``files`` would break lakeFS's action loader (``pkg/actions/action.go``).

    A file lakeFS cannot load fails every hook run of its branch with a 500, so nothing is
    committed before this passes.

    Returns:
        One problem per mistake, each naming its file; empty when lakeFS will load them all.
    """
    problems: list[Problem] = []
    names: set[str] = set()
    for path, content in sorted(files.items()):
        try:
            action: Any = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            problems.append(_problem(path, f"not valid YAML: {exc}"))
            continue
        if not isinstance(action, dict):
            problems.append(_problem(path, "an action is a mapping (name, on, hooks)"))
            continue
        name = action.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(_problem(path, f"name {name!r} is missing or invalid"))
        elif name in names:
            problems.append(_problem(path, f"action name {name!r} is used by another file"))
        else:
            names.add(name)
        # YAML 1.1 (PyYAML) reads a bare `on` key as True; lakeFS's YAML 1.2 reads "on"
        on = action.get("on", action.get(True))
        if not isinstance(on, dict) or not on:
            problems.append(_problem(path, "'on' is required"))
        else:
            for event, spec in on.items():
                if event not in _EVENTS:
                    problems.append(_problem(path, f"event {event!r} is not supported"))
                elif spec is not None and (
                    not isinstance(spec, dict)
                    or not isinstance(spec.get("branches", []), list)
                    or (event.endswith("-tag") and "branches" in spec)
                ):
                    problems.append(_problem(path, f"event {event!r}: branches is a list"))
        hooks = action.get("hooks")
        if not isinstance(hooks, list) or not hooks:
            problems.append(_problem(path, "'hooks' is a non-empty list"))
            continue
        ids: set[str] = set()
        for index, hook in enumerate(hooks):
            if not isinstance(hook, dict):
                problems.append(_problem(path, f"hook[{index}] is not a mapping"))
                continue
            hook_id = hook.get("id")
            if not isinstance(hook_id, str) or not _HOOK_ID.match(hook_id):
                problems.append(_problem(path, f"hook[{index}] id {hook_id!r} is invalid"))
            elif hook_id in ids:
                problems.append(_problem(path, f"hook[{index}] duplicate id {hook_id!r}"))
            else:
                ids.add(hook_id)
            if hook.get("type") not in _HOOK_TYPES:
                problems.append(_problem(path, f"hook[{index}] type {hook.get('type')!r} unknown"))
            properties = hook.get("properties") or {}
            if hook.get("type") == "webhook" and not isinstance(properties.get("url"), str):
                problems.append(_problem(path, f"hook[{index}] webhook has no url"))
    return problems


def read_actions(session: Session, repository: str, ref: str) -> dict[str, bytes]:
    """Every object under ``_lakefs_actions/`` at ``ref``: path → content.

    Raises:
        LakeFSNotFound: no such repository or ref.
        LakeFSError: any other refusal of lakeFS.
    """
    files: dict[str, bytes] = {}
    for entry in session.list_objects(repository, ref, ACTIONS_DIR, delimiter=""):
        files[entry.path] = session.get_object(repository, ref, entry.path) or b""
    return files


def differences(have: Mapping[str, bytes], want: Mapping[str, bytes]) -> list[str]:
    """How ``have`` differs from ``want``: one sentence per missing, extra or changed file."""
    found = [f"{path} is missing" for path in sorted(set(want) - set(have))]
    found += [f"{path} is not vxp's" for path in sorted(set(have) - set(want))]
    found += [
        f"{path} differs" for path in sorted(set(want) & set(have)) if have[path] != want[path]
    ]
    return found


def layer_branches(session: Session, repository: str) -> list[str]:
    """The repository's branches the action guards: ``source``, ``integration``, ``app-*``.

    Raises:
        LakeFSNotFound: no such repository.
    """
    return [
        b
        for b in session.list_branches(repository)
        if b in ("source", "integration") or b.startswith(APP_PREFIX)
    ]


@dataclass(frozen=True)
class Installed:
    """What ``install`` did on one branch.

    Attributes:
        branch: the layer branch.
        commit_id: the merge that installed the files, or None when they were in place.
    """

    branch: str
    commit_id: str | None


def install(
    session: Session,
    repository: str,
    files: Mapping[str, bytes],
    branches: Iterable[str] | None = None,
) -> list[Installed]:
    """Put exactly ``files`` under ``_lakefs_actions/`` of each layer branch; idempotent.

    Layer branches are protected (they change only by merge), so each change is committed on a
    temporary branch cut from the layer branch and merged into it; the merge's own pre-merge hook
    already runs the new action (lakeFS reads it from the source commit). Branches that hold
    exactly ``files`` are left alone.

    Args:
        files: path → content, from :func:`render` (validated here before anything is written).
        branches: the branches to install on (default: :func:`layer_branches`).

    Raises:
        InvalidInput: ``files`` would break lakeFS's action loader (every problem listed).
        LakeFSPreconditionFailed: the hooks server refused the installing merge.
        LakeFSError: lakeFS refused a step (the temporary branch is deleted all the same).
    """
    problems = validate(files)
    if problems:
        raise InvalidInput(
            "the action files are not valid; nothing was installed:\n"
            + "\n".join(p.describe() for p in problems)
        )
    done: list[Installed] = []
    for branch in branches if branches is not None else layer_branches(session, repository):
        have = read_actions(session, repository, branch)
        if not differences(have, files):
            done.append(Installed(branch, None))
            continue
        temporary = f"vxp-hooks-install-{uuid.uuid4().hex[:12]}"
        session.create_branch(repository, temporary, branch)
        try:
            for path in sorted(set(have) - set(files)):
                session.delete_object(repository, temporary, path)
            for path, content in sorted(files.items()):
                if have.get(path) != content:
                    session.upload_object(repository, temporary, path, content)
            session.commit(repository, temporary, "vxp hooks install", {INSTALL_METADATA: "true"})
            commit = session.merge(
                repository,
                temporary,
                branch,
                f"vxp hooks install: {', '.join(sorted(files))}",
                {INSTALL_METADATA: "true"},
            )
        finally:
            with contextlib.suppress(LakeFSNotFound):
                session.delete_branch(repository, temporary)
        done.append(Installed(branch, commit))
    return done
