"""The domain layer: repositories, refs, tables at a ref, diffs, and the SQL engines.

Built on the lakeFS gateway (:mod:`vxp.lakefs`) and the core; knows nothing of the CLI, the
servers or the stack that runs them.
"""
