"""Seeded test data: every run (and every catalog within a run) writes exactly the same rows."""

from __future__ import annotations

import random

import pyarrow as pa

from bench.core import SEED

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("grp", pa.int32(), nullable=False),
        pa.field("cat", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
CATEGORIES = [f"cat-{i:02d}" for i in range(12)]
GROUPS = 100


def batch(rows: int, first_id: int = 0, seed: int = SEED) -> pa.Table:
    """``rows`` rows with ids from ``first_id``; the other columns drawn from ``seed``."""
    rng = random.Random(seed + first_id)
    return pa.table(
        {
            "id": pa.array(range(first_id, first_id + rows), pa.int64()),
            "grp": pa.array([rng.randrange(GROUPS) for _ in range(rows)], pa.int32()),
            "cat": pa.array([rng.choice(CATEGORIES) for _ in range(rows)], pa.string()),
            "value": pa.array([rng.random() * 1000 for _ in range(rows)], pa.float64()),
        },
        schema=SCHEMA,
    )
