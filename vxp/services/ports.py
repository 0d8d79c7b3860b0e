"""Port selection: a configured port must be free (else a clear error); a default one may move."""

from __future__ import annotations

import socket

from vxp.core.errors import VxpError


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on ``port`` now.

    SO_REUSEADDR, as the servers themselves (Go, Java) bind: connections of a stopped server
    linger in TIME_WAIT for a minute, which must not make its port look taken and move it on
    the next ``vxp up`` (that moved Trino's port on every restart of the full stack).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now (it may be taken before it is used).

    Raises:
        OSError: no socket can be bound on ``host``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose(component: str, preferred: int | None, configured: int | None, taken: set[int]) -> int:
    """Pick the port for ``component``.

    ``configured`` came from the user (flag or environment) and must be free; ``preferred`` is the
    component's usual port, used when free, else any free port. ``taken`` holds ports already
    handed to other components of this stack.

    Args:
        component: the port's name (``lakefs``, ``minio-console``, …), used in messages.

    Raises:
        VxpError: ``configured`` is in use (by another program or another component).
    """
    if configured is not None:
        if configured in taken or not is_free(configured):
            raise VxpError(
                f"port {configured} configured for {component} is already in use",
                hint=f"stop whatever listens on {configured}, or configure another port "
                f"(VXP_{component.upper().replace('-', '_')}_PORT)",
            )
        return configured
    if preferred is not None and preferred not in taken and is_free(preferred):
        return preferred
    while True:
        port = free_port()
        if port not in taken:
            return port
