"""Distances between distributions and association between columns, for fidelity reports.

Owns shared encodings of a real and a twin column (category codes over both, numbers), the
per-column distances (total variation for categories; Kolmogorov–Smirnov and normalised
Wasserstein-1 for numbers, dates and times) and the association matrix of a set of columns:
signed Spearman correlation between numbers, correlation ratio η between a category and a
number, Cramér's V between categories.

Must not decide what is good enough (callers compare against their own thresholds) and never
reads identifiers or keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.lab.twins.convert import to_numbers
from countyos.lab.twins.copula import average_ranks, group_means
from countyos.lab.twins.marginals import decode

_MIN_PAIR_ROWS = 20


@dataclass(frozen=True)
class Encoded:
    """One column encoded for comparison: codes (categories) or numbers, real and twin.

    Attributes:
        categorical: True for codes, False for numbers.
        real: Codes (``-1`` missing) or float64 numbers (NaN missing) of the real rows.
        twin: The same for the twin rows.
        categories: Number of distinct codes over both.
    """

    categorical: bool
    real: np.ndarray
    twin: np.ndarray
    categories: int


def encode_pair(real: pa.ChunkedArray | pa.Array, twin: pa.ChunkedArray | pa.Array, categorical: bool, data_type: pa.DataType) -> Encoded:
    """Encode a real and a twin column on a common basis."""
    real, twin = decode(real), decode(twin)
    if categorical:
        both = pa.concat_arrays([real, twin.cast(real.type)])
        encoded = pc.dictionary_encode(both)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return Encoded(True, codes[: len(real)], codes[len(real):], len(encoded.dictionary))
    real_values, _, _ = to_numbers(real, data_type)
    twin_values, _, _ = to_numbers(twin, data_type)
    return Encoded(False, real_values, twin_values, 0)


def total_variation(encoded: Encoded) -> float:
    """Total variation distance between the category distributions (missing values left out)."""
    real = encoded.real[encoded.real >= 0]
    twin = encoded.twin[encoded.twin >= 0]
    if real.size == 0 or twin.size == 0:
        return 0.0 if real.size == twin.size else 1.0
    p = np.bincount(real, minlength=encoded.categories) / real.size
    q = np.bincount(twin, minlength=encoded.categories) / twin.size
    return float(0.5 * np.abs(p - q).sum())


def ks_and_wasserstein(real: np.ndarray, twin: np.ndarray) -> tuple[float, float]:
    """Kolmogorov–Smirnov statistic and Wasserstein-1 distance divided by the real standard
    deviation (1 when it is 0), over finite values."""
    real = np.sort(real[np.isfinite(real)])
    twin = np.sort(twin[np.isfinite(twin)])
    if real.size == 0 or twin.size == 0:
        return (0.0, 0.0) if real.size == twin.size else (1.0, float("inf"))
    support = np.concatenate([real, twin])
    support.sort(kind="mergesort")
    cdf_real = np.searchsorted(real, support, side="right") / real.size
    cdf_twin = np.searchsorted(twin, support, side="right") / twin.size
    ks = float(np.max(np.abs(cdf_real - cdf_twin)))
    wasserstein = float(np.sum(np.abs(cdf_real - cdf_twin)[:-1] * np.diff(support)))
    spread = float(real.std())
    return ks, wasserstein / (spread if spread > 0 else 1.0)


def _spearman(left: np.ndarray, right: np.ndarray) -> float:
    valid = np.isfinite(left) & np.isfinite(right)
    if np.count_nonzero(valid) < _MIN_PAIR_ROWS:
        return 0.0
    a, b = average_ranks(left[valid]), average_ranks(right[valid])
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _correlation_ratio(codes: np.ndarray, values: np.ndarray, categories: int) -> float:
    valid = (codes >= 0) & np.isfinite(values)
    if np.count_nonzero(valid) < _MIN_PAIR_ROWS:
        return 0.0
    _, eta_squared = group_means(codes[valid], average_ranks(values[valid]), categories)
    return float(np.sqrt(max(eta_squared, 0.0)))


def _cramers_v(left: np.ndarray, right: np.ndarray, left_k: int, right_k: int) -> float:
    valid = (left >= 0) & (right >= 0)
    rows = int(np.count_nonzero(valid))
    if rows < _MIN_PAIR_ROWS:
        return 0.0
    table = np.bincount(left[valid] * right_k + right[valid], minlength=left_k * right_k).reshape(left_k, right_k)
    row_sums, column_sums = table.sum(axis=1), table.sum(axis=0)
    table = table[row_sums > 0][:, column_sums > 0].astype(np.float64)
    row_sums, column_sums = row_sums[row_sums > 0], column_sums[column_sums > 0]
    smaller = min(table.shape) - 1
    if smaller <= 0:
        return 0.0
    expected = np.outer(row_sums, column_sums) / rows
    chi_squared = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(min(chi_squared / (rows * smaller), 1.0)))


def association(first: Encoded, second: Encoded, which: str) -> float:
    """Association of two encoded columns on their ``which`` side (``"real"`` or ``"twin"``)."""
    a, b = getattr(first, which), getattr(second, which)
    if first.categorical and second.categorical:
        return _cramers_v(a, b, first.categories, second.categories)
    if first.categorical:
        return _correlation_ratio(a, b, first.categories)
    if second.categorical:
        return _correlation_ratio(b, a, second.categories)
    return _spearman(a, b)


def association_matrix(columns: list[Encoded], which: str) -> np.ndarray:
    """Symmetric matrix of pairwise associations (1 on the diagonal)."""
    size = len(columns)
    matrix = np.eye(size)
    for i in range(size):
        for j in range(i + 1, size):
            matrix[i, j] = matrix[j, i] = association(columns[i], columns[j], which)
    return matrix
