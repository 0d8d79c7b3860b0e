"""Repositories and their layer branches, over the lakeFS SDK.

A repository holds one data domain; ``source`` (raw, immutable) and ``integration`` (normalised,
the default users read) are layer branches, protected so they change only by merge.
"""

from __future__ import annotations

import json
import re
import tempfile

import lakefs_sdk
from lakefs_sdk.exceptions import ApiException

from vxp.connection import Settings
from vxp.errors import VxpError

LAYER_BRANCHES = ("source", "integration")
DEFAULT_BRANCH = "integration"
_REPO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")


def api_error(exc: ApiException, doing: str) -> VxpError:
    """Turn a lakeFS API error into one readable line."""
    message = exc.reason or "error"
    if exc.body:
        try:
            message = json.loads(exc.body).get("message", message)
        except (ValueError, AttributeError):
            message = str(exc.body)[:200]
    return VxpError(f"{doing}: {message} (lakeFS answered {exc.status})")


def validate_repo_name(name: str) -> None:
    if not _REPO_NAME.match(name):
        raise VxpError(
            f"invalid repository name {name!r}",
            hint="use 3-63 characters: lower-case letters, digits and '-', starting with a "
            "letter or digit (lakeFS's rule)",
        )


def create_repository(settings: Settings, name: str) -> lakefs_sdk.Repository:
    """Create ``name`` with the protected layer branches ``source`` and ``integration``."""
    validate_repo_name(name)
    client = settings.lakefs()
    repos = lakefs_sdk.RepositoriesApi(client)
    try:
        repo = repos.create_repository(
            lakefs_sdk.RepositoryCreation(
                name=name,
                storage_namespace=f"{settings.storage_namespace_prefix}{name}",
                default_branch=DEFAULT_BRANCH,
            )
        )
    except ApiException as exc:
        raise api_error(exc, f"could not create repository {name!r}") from exc
    try:
        lakefs_sdk.BranchesApi(client).create_branch(
            name, lakefs_sdk.BranchCreation(name="source", source=DEFAULT_BRANCH)
        )
        # merge-only: direct writes and commits to layer branches are refused by lakeFS itself
        repos.set_branch_protection_rules(
            name, [lakefs_sdk.BranchProtectionRule(pattern=b) for b in LAYER_BRANCHES]
        )
    except ApiException as exc:
        # a half-made repository would be worse than none: remove it, then report
        repos.delete_repository(name)
        raise api_error(exc, f"could not set up the layer branches of {name!r}") from exc
    return repo


def upload(settings: Settings, repository: str, branch: str, path: str, data: bytes) -> str:
    """Stage ``data`` at ``path`` on ``branch``; returns the object's checksum."""
    # the generated SDK takes a file name for the request body, not bytes
    with tempfile.NamedTemporaryFile(prefix="vxp-upload-") as handle:
        handle.write(data)
        handle.flush()
        try:
            stats = lakefs_sdk.ObjectsApi(settings.lakefs()).upload_object(
                repository, branch, path, content=handle.name
            )
        except ApiException as exc:
            raise api_error(exc, f"could not upload {path} to {repository}/{branch}") from exc
    return str(stats.checksum)
