"""``python -m vxp`` runs the CLI."""

from vxp.cli.app import main

main()
