"""Name rules of repositories and branches, and the layer branches every repository has.

The rules are lakeFS's (repository: ``^[a-z0-9][a-z0-9-]{2,62}$``; branch: ``^\\w[-\\w]*$``),
checked here so the error can say what is allowed instead of passing lakeFS's answer on.
"""

from __future__ import annotations

import re

from vxp.core.errors import InvalidInput

__all__ = [
    "CATALOG_BRANCH_PREFIX",
    "DEFAULT_BRANCH",
    "LAYER_BRANCHES",
    "validate_branch_name",
    "validate_repository_name",
]

#: the layer branches, upstream first (DESIGN.md, "Versioning model")
LAYER_BRANCHES = ("source", "integration")
#: the branch users read by default
DEFAULT_BRANCH = "integration"
#: how the names of the catalog's temporary branches start (vxp.catalog.leftovers)
CATALOG_BRANCH_PREFIX = "vxp-catalog-"

_REPO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_BRANCH_NAME = re.compile(r"^\w[-\w]*$")


def validate_repository_name(name: str) -> None:
    """Check ``name`` against lakeFS's repository-name rule (``^[a-z0-9][a-z0-9-]{2,62}$``).

    Raises:
        InvalidInput: ``name`` breaks the rule; the hint says what is allowed.
    """
    if not _REPO_NAME.match(name):
        raise InvalidInput(
            f"invalid repository name {name!r}",
            hint="use 3-63 characters: lower-case letters, digits and '-', starting with a "
            "letter or digit (lakeFS's rule)",
        )


def validate_branch_name(name: str) -> None:
    """Check ``name`` against lakeFS's branch-name rule: word characters and ``-``, not first.

    Raises:
        InvalidInput: ``name`` breaks the rule (a ``/`` or ``.`` for instance).
    """
    if not _BRANCH_NAME.match(name):
        raise InvalidInput(
            f"invalid branch name {name!r}",
            hint="use letters, digits, '_' and '-', not starting with '-' (no '/' or '.')",
        )
