"""Where vxp keeps its state: ``$VXP_HOME`` (per installation) and ``$VXP_CACHE`` (shared binaries).

The two are separate on purpose: several installations (a user's, each test session's) share one
cache of built binaries, so a second run never rebuilds, while data, logs and secrets stay apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    """The directory layout of one vxp installation.

    Attributes:
        root: ``$VXP_HOME``, absolute: data, logs, secrets and the stack state of this installation.
        cache: ``$VXP_CACHE``, absolute: built binaries, shared by every installation here.
    """

    root: Path
    cache: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Home:
        """The installation ``$VXP_HOME`` (default ``~/.vxp``) with cache ``$VXP_CACHE``
        (default ``~/.cache/vxp``), read from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        root = Path(env.get("VXP_HOME") or Path.home() / ".vxp").expanduser()
        cache = Path(env.get("VXP_CACHE") or Path.home() / ".cache" / "vxp").expanduser()
        return cls(root=root.absolute(), cache=cache.absolute())

    @property
    def logs(self) -> Path:
        """``<root>/logs``: one ``<component>.log`` per process the service manager started."""
        return self.root / "logs"

    @property
    def data(self) -> Path:
        """``<root>/data``: each component's data directory (lakeFS KV and blocks, warehouse, …)."""
        return self.root / "data"

    @property
    def run(self) -> Path:
        """Generated configuration files and the stack state."""
        return self.root / "run"

    @property
    def state_file(self) -> Path:
        """``<root>/run/stack.json``: the running stack, its ports and process handles."""
        return self.run / "stack.json"

    @property
    def secrets_file(self) -> Path:
        """``<root>/secrets.json`` (mode 0600): the installation's generated keys."""
        return self.root / "secrets.json"

    def ensure(self) -> None:
        """Create every directory of the layout (idempotent) and make ``root`` mode 0700.

        0700 because ``root`` holds the secrets file and the client file with the lakeFS secret key.

        Raises:
            OSError: a directory cannot be created, or its mode cannot be set.
        """
        for path in (self.root, self.logs, self.data, self.run, self.cache):
            path.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
