"""The one exception type the CLI turns into a message and a non-zero exit (never a traceback)."""


class VxpError(Exception):
    """A failure a user can act on: what went wrong and, optionally, what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  hint: {self.hint}"
