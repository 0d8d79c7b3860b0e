"""REST routes of the Iceberg catalog, grouped by resource."""
