"""The hooks server: lakeFS's pre-commit and pre-merge webhooks run vxp's checks here
(DESIGN.md, "Hooks"); installed as ``vxp.hooks``."""
