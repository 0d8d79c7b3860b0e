"""vxp_client."""
