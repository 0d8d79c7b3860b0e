"""The service manager: installs, caches, starts, health-checks and stops vxp's components.

One code path serves ``vxp up/status/down`` and the test fixtures. Each component is a small
module implementing :class:`vxp.services.base.Component`; :mod:`vxp.services.manager` composes
them into stacks (``embedded``, ``full``).
"""
