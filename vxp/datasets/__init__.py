"""Datasets: recipes select resources, lockfiles pin them to lakeFS commit IDs, materializers
turn a lockfile into BIDS folders, CSVs or plain files, and checkout makes a working copy of a
ref (DESIGN.md, "Lockfiles"). Built on the public client, :mod:`vxp_client`."""
