"""vxp: a lakehouse for research data on versioned object storage."""

__version__ = "0.1.0"
