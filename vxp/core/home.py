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
    """The directory layout of one vxp installation."""

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
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        """Generated configuration files and the stack state."""
        return self.root / "run"

    @property
    def state_file(self) -> Path:
        return self.run / "stack.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def ensure(self) -> None:
        for path in (self.root, self.logs, self.data, self.run, self.cache):
            path.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
