"""vxp benchmarks against the real stack; run them with ``bench/run`` (see bench/README.md)."""
