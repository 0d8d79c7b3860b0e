"""The typed error tree every layer raises and the CLI turns into messages and exit codes.

Each error says what went wrong in vxp's words and, optionally, what to do about it (``hint``).
Callers catch the class that matches what they can handle: :class:`NotFound` when something may
not exist, :class:`Conflict` to retry or re-plan, :class:`Unavailable` when a server is down.
The exit code of each class is part of the CLI's contract (``docs/reference/cli.md``).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PreconditionFailed",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "VxpError",
]


class VxpError(Exception):
    """A failure a user can act on: what went wrong and, optionally, what to do about it.

    Args:
        message: one or more sentences, in vxp's words (never a server's raw answer alone).
        hint: what to do about it, or None; ``str(error)`` prints it on a second line.

    Attributes:
        exit_code: the process exit code the CLI uses for this class (1 unless a subclass says
            otherwise; ``docs/reference/cli.md``).
    """

    #: the process exit code the CLI uses for this kind of failure
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  hint: {self.hint}"


class InvalidInput(VxpError):
    """An argument, name, file or setting the user gave is not acceptable."""


class NotFound(VxpError):
    """A repository, ref, table, object or resource does not exist."""


class AlreadyExists(VxpError):
    """Something the user asked to create exists already."""


class Conflict(VxpError):
    """Two changes collided (a merge conflict, a lost race); nothing was changed. Exit code 3."""

    exit_code = 3


class PreconditionFailed(VxpError):
    """A check refused the change (a lakeFS hook, a branch's expected head); nothing changed."""


class Unauthorized(VxpError):
    """The credentials were rejected: wrong or missing keys."""


class Forbidden(VxpError):
    """The credentials are valid but may not do this (a protected layer branch, a tag)."""


class Unavailable(VxpError):
    """A server of the platform could not be reached or did not answer. Exit code 4.

    Nothing was changed, or (when the answer was lost) the change's outcome is unknown and the
    message says so.
    """

    exit_code = 4


class ServerError(VxpError):
    """A server of the platform failed while handling a valid request. Exit code 4."""

    exit_code = 4
