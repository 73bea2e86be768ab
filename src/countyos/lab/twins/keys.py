"""Pseudonymous keys of twins: per-domain pools of fresh keys and their fan-out.

Owns ``KeyDomain`` (the fresh keys of one entity, e.g. all twin persons of a builder, created
from the first column of that domain), the fan-out of a key column (rows per entity, including
the entities without rows), and the assignment of twin rows to pool keys so that a child twin's
fan-out (visits per person) follows the real one.

Must not map a real key to a fresh one: pools are drawn at random, so nothing about a twin key
tells which real entity it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.lab.twins.marginals import NumericMarginal


@dataclass(frozen=True)
class KeyDomain:
    """The fresh keys of one entity domain shared by the twins of one builder.

    Attributes:
        name: The domain (``"person"``).
        pool: Fresh keys, in the type of the column that created the domain.
        real_entities: Distinct real keys in that column (the entities that may have rows).
        origin: ``"dataset.column"`` that created the domain.
    """

    name: str
    pool: pa.Array
    real_entities: int
    origin: str


def fanout_counts(real: pa.Array) -> np.ndarray:
    """Rows per distinct non-null key of a key column."""
    counts = pc.value_counts(real.drop_null()).field("counts")
    return counts.to_numpy(zero_copy_only=False).astype(np.int64)


def sample_fanout(
    fanout: np.ndarray, entities: int, target_rows: int, rng: np.random.Generator, min_count: int
) -> np.ndarray:
    """Rows per twin entity drawn from a smoothed real fan-out distribution.

    Args:
        fanout: Rows per real entity (zeros for entities without rows).
        entities: Number of twin entities.
        target_rows: Rows the twin will have (used when the real fan-out is too small to learn).
        rng: Random generator.
        min_count: Fewer real entities than this and only the mean fan-out is used.
    """
    values = fanout.astype(np.float64)
    missing = np.zeros(values.size, dtype=bool)
    marginal = NumericMarginal.fit(values, missing, missing, pa.int64(), min_count, rng)
    if marginal.empty:
        return rng.poisson(target_rows / max(entities, 1), size=entities)
    return np.maximum(np.rint(marginal.quantile(rng.random(entities))), 0).astype(np.int64)


def assign_rows(counts: np.ndarray, target_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Pool indices for ``target_rows`` rows, entity ``i`` taking about ``counts[i]`` rows.

    Rows are cut at random when the counts add up to more than the target, and added in
    proportion to the counts when they add up to less; the result is shuffled.
    """
    pool_size = counts.size
    if target_rows == 0 or pool_size == 0:
        return np.zeros(0, dtype=np.int64)
    repeated = np.repeat(np.arange(pool_size), counts)
    if repeated.size == 0:
        return rng.integers(0, pool_size, size=target_rows)
    if repeated.size > target_rows:
        repeated = repeated[rng.choice(repeated.size, size=target_rows, replace=False)]
    elif repeated.size < target_rows:
        repeated = np.concatenate([repeated, rng.choice(repeated, size=target_rows - repeated.size)])
    rng.shuffle(repeated)
    return repeated


def assign_unique(pool_size: int, target_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Pool indices for a key that is unique per row: distinct while the pool lasts."""
    if target_rows <= pool_size:
        return rng.choice(pool_size, size=target_rows, replace=False)
    extra = rng.integers(0, max(pool_size, 1), size=target_rows - pool_size)
    return np.concatenate([rng.permutation(pool_size), extra])
