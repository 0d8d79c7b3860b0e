"""The core layer: errors, settings, names, the layout of a ref. No I/O beyond reading settings.

Everything else in vxp imports from here; this package imports nothing of vxp's own
(``docs/architecture.md``, "Layers of the code").
"""
