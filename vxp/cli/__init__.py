"""vxp/cli."""
