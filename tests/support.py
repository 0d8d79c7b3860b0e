"""Shared test helpers (importable as ``tests.support``)."""

from __future__ import annotations

from vxp.connection import Settings
from vxp.services.manager import ServiceManager


class Stack:
    """A running stack as tests see it: its manager, home and client settings."""

    def __init__(self, manager: ServiceManager) -> None:
        self.manager = manager
        self.home = manager.home
        self.env = manager.env()
        self.settings = Settings.from_mapping(self.env)
