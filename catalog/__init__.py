"""The Iceberg REST catalog server whose state is versioned by lakeFS.

Entry points: :func:`catalog.app.create_app` (ASGI app) and :func:`catalog.server.serve`.
"""
