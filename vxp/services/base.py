"""The interface every component implements, and the context it is given."""

from __future__ import annotations

import fcntl
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rich.console import Console

from vxp.core.home import Home
from vxp.services import cache


@dataclass
class Context:
    """Everything a component needs to configure itself for one installation and stack.

    Attributes:
        home: the installation (``$VXP_HOME``, ``$VXP_CACHE``).
        stack: ``embedded`` or ``full``.
        secrets: the installation's generated secrets (:mod:`vxp.services.secrets`).
        ports: port name → number, for every component of the stack.
        console: where progress and warnings go (standard error).
    """

    home: Home
    stack: str
    secrets: dict[str, str]
    ports: dict[str, int]
    console: Console = field(default_factory=lambda: Console(stderr=True))

    def data_dir(self, component: str) -> Path:
        """``$VXP_HOME/data/<component>``, created if missing: the component's persistent data.

        Raises:
            OSError: the directory cannot be created.
        """
        path = self.home.data / component
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run_dir(self, component: str) -> Path:
        """``$VXP_HOME/run/<component>``, created if missing: generated configuration files.

        Raises:
            OSError: the directory cannot be created.
        """
        path = self.home.run / component
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_file(self, component: str) -> Path:
        """``$VXP_HOME/logs/<component>.log``: the process's output (not created here)."""
        return self.home.logs / f"{component}.log"


@dataclass(frozen=True)
class LaunchSpec:
    """How to start a component's process.

    Attributes:
        argv: the command and its arguments; run without a shell.
        env: variables added to the service manager's environment.
        cwd: the working directory, or None for the manager's.
        user: the OS user to run as (PostgreSQL refuses to run as root), or None.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # run as this OS user (PostgreSQL refuses to run as root)
    user: str | None = None


class Component(ABC):
    """One server (or in-process engine) of the platform.

    ``install`` is idempotent and cached by version; ``prepare`` writes configuration and
    initialises data; ``launch`` describes the process; ``healthy`` probes it once.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    # the port names this component needs, each with its preferred number (None: any free port)
    ports: ClassVar[dict[str, int | None]] = {}
    # seconds a start may take before it counts as failed
    startup_timeout: ClassVar[float] = 60.0
    # False for engines that run inside the client process (DuckDB): nothing to start or stop
    is_process: ClassVar[bool] = True
    # the path of the component's web UI under :meth:`url`, if it serves one to browsers
    web_ui: ClassVar[str | None] = None

    @abstractmethod
    def installed(self, ctx: Context) -> bool:
        """True when the cached install exists (it is verified by :meth:`verify`)."""

    @abstractmethod
    def install(self, ctx: Context, force: bool = False) -> None:
        """Install into the cache with progress; never rebuild a cached version unless forced."""

    def verify(self, ctx: Context) -> None:  # noqa: B027 - optional hook
        """Check the cached install; a no-op unless a component has something to check.

        Raises:
            VxpError: (in implementations) the cached install is corrupt or unusable.
        """

    def prepare(self, ctx: Context) -> None:  # noqa: B027 - optional hook
        """Write configuration files and initialise data directories (idempotent)."""

    @abstractmethod
    def launch(self, ctx: Context) -> LaunchSpec:
        """The command that runs the component in the foreground."""

    @abstractmethod
    def healthy(self, ctx: Context) -> bool:
        """One health probe: True when the component answers correctly."""

    def after_start(self, ctx: Context) -> None:  # noqa: B027 - optional hook
        """Work that needs the running server (create a bucket, a database, …)."""

    @abstractmethod
    def url(self, ctx: Context) -> str:
        """Where clients reach it."""

    @abstractmethod
    def settings(self, ctx: Context) -> dict[str, str]:
        """Connection settings for ``vxp env``, as environment variable names and values."""


class CachedComponent(Component):
    """A component whose files live in the binary cache, ``$VXP_CACHE/<name>/<version>/``.

    Subclasses say how to :meth:`build` into an empty slot and which files to checksum; the cache
    slot is sealed only after a complete build, so an interrupted one is redone next time.
    """

    def slot(self, ctx: Context) -> Path:
        """The component's cache slot, ``$VXP_CACHE/<name>/<version>/``."""
        return cache.slot(ctx.home.cache, self.name, self.version)

    def installed(self, ctx: Context) -> bool:
        """True when the slot is sealed (its manifest exists): a build ran to the end."""
        return cache.is_complete(self.slot(ctx))

    def install(self, ctx: Context, force: bool = False) -> None:
        """Build into the cache slot unless a sealed build is there (or ``force``).

        One process builds a slot at a time: several installations share the cache (a user's,
        test sessions, benchmarks), and a second build would delete the first one's files
        mid-build. A process that waited for the lock finds the slot sealed and returns.

        Raises:
            VxpError: a tool is missing or a build step failed (with its last output lines).
            OSError: the slot or its lock file cannot be written.
        """
        slot = self.slot(ctx)
        if self.installed(ctx) and not force:
            return
        slot.parent.mkdir(parents=True, exist_ok=True)
        with (slot.parent / f"{slot.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.installed(ctx) and not force:
                return
            cache.clear(slot)
            slot.mkdir(parents=True)
            self.build(ctx, slot)
            cache.seal(slot, self.checked_files())

    def verify(self, ctx: Context) -> None:
        """Check the checksums sealed with the build (:func:`vxp.services.cache.verify`).

        Raises:
            VxpError: a checked file is missing or changed since it was installed.
            OSError: the slot has no manifest (it was never installed).
        """
        cache.verify(self.slot(ctx), self.name)

    @abstractmethod
    def build(self, ctx: Context, slot: Path) -> None:
        """Build or download into the empty ``slot``, showing progress."""

    @abstractmethod
    def checked_files(self) -> list[str]:
        """Paths (relative to the slot) whose checksums catch a damaged install."""
