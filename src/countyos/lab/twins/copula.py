"""Gaussian copula over rank-normal scores: the pairwise dependencies of a twin.

Owns the normal distribution functions (vectorised, no SciPy), rank-normal scores of numbers,
interval-mean normal scores of categories (in an order that makes their strongest association
monotone), the pairwise-complete correlation matrix of the scores, corrected for the shrinkage
that cutting a normal into categories causes (a first-order polyserial correction) and repaired
to the nearest valid correlation matrix, and sampling correlated normal scores.

Must not know Arrow types or column roles, and never sees identifiers or keys: callers pass
plain numpy scores and category codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Numerical Recipes ``erfcc`` coefficients: fractional error below 1.2e-7 everywhere
_ERFC_COEFFICIENTS = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)
# Acklam's rational approximation of the normal quantile (relative error below 1.2e-9)
_PPF_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
          1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_PPF_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
          6.680131188771972e01, -1.328068155288572e01)
_PPF_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
          -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_PPF_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
          3.754408661907416e00)
_PPF_LOW = 0.02425

MIN_PAIR_ROWS = 20
_MAX_LATENT = 0.995
_EIGEN_FLOOR = 1e-6


def norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal distribution function, vectorised."""
    x = -np.asarray(z, dtype=np.float64) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * np.abs(x))
    poly = np.full_like(t, _ERFC_COEFFICIENTS[-1])
    for coefficient in _ERFC_COEFFICIENTS[-2::-1]:
        poly = poly * t + coefficient
    erfc_abs = t * np.exp(-x * x + poly)
    erfc = np.where(x >= 0, erfc_abs, 2.0 - erfc_abs)
    return 0.5 * erfc


def _polynomial(coefficients: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    result = np.full_like(x, coefficients[0])
    for coefficient in coefficients[1:]:
        result = result * x + coefficient
    return result


def norm_ppf(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile function, vectorised; ``p`` is clipped to (1e-12, 1 - 1e-12)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    result = np.empty_like(p)
    low = p < _PPF_LOW
    high = p > 1.0 - _PPF_LOW
    middle = ~(low | high)
    q = p[middle] - 0.5
    r = q * q
    result[middle] = q * _polynomial(_PPF_A, r) / (_polynomial(_PPF_B, r) * r + 1.0)
    for mask, sign, tail in ((low, 1.0, p[low]), (high, -1.0, 1.0 - p[high])):
        q = np.sqrt(-2.0 * np.log(tail))
        result[mask] = sign * _polynomial(_PPF_C, q) / (_polynomial(_PPF_D, q) * q + 1.0)
    return result


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of finite ``values`` with ties given their average rank (NaN stays NaN)."""
    values = np.asarray(values, dtype=np.float64)
    ranks = np.full(values.shape, np.nan)
    valid = np.isfinite(values)
    if not valid.any():
        return ranks
    _, inverse, counts = np.unique(values[valid], return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    ranks[valid] = (upper - (counts - 1) / 2.0)[inverse]
    return ranks


def rank_normal_scores(values: np.ndarray) -> np.ndarray:
    """Normal scores ``Φ⁻¹(rank / (n + 1))`` of finite values; NaN where missing."""
    ranks = average_ranks(values)
    count = np.count_nonzero(np.isfinite(ranks))
    return norm_ppf(ranks / (count + 1.0)) if count else ranks


def category_scores(codes: np.ndarray, probabilities: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, float]:
    """Normal scores of category codes: the mean of a standard normal over each category's interval.

    Category ``order[0]`` takes the lowest interval of the normal's probability scale, each
    interval as wide as the category's probability; a row scores ``E[Z | Z in its interval]``.

    Args:
        codes: Category index per row, ``-1`` where missing (NaN score).
        probabilities: Probability per category index.
        order: Category indices from the lowest to the highest interval.

    Returns:
        The scores, and their standard deviation under the category probabilities: how much a
        latent normal's correlation shrinks when it is cut into these categories
        (``corr(score(Z), X) = sd * corr(Z, X)`` for jointly normal ``Z`` and ``X``).
    """
    upper = np.cumsum(probabilities[order])
    lower = np.concatenate(([0.0], upper[:-1]))
    upper = np.minimum(upper, 1.0)
    density = np.exp(-0.5 * norm_ppf(np.concatenate((lower, upper))) ** 2) / np.sqrt(2.0 * np.pi)
    density[np.concatenate((lower, upper)) <= 1e-12] = 0.0
    density[np.concatenate((lower, upper)) >= 1.0 - 1e-12] = 0.0
    width = upper - lower
    ordered_means = np.divide(
        density[: len(order)] - density[len(order):], width, out=np.zeros(len(order)), where=width > 0
    )
    means = np.zeros(len(probabilities))
    means[order] = ordered_means
    spread = float(np.sqrt(np.sum(probabilities[order] * ordered_means**2)))
    scores = np.where(codes >= 0, means[np.maximum(codes, 0)], np.nan)
    return scores, spread


def group_means(codes: np.ndarray, scores: np.ndarray, categories: int) -> tuple[np.ndarray, float]:
    """Mean score per category and the correlation ratio η² of scores by category.

    Rows where the code is ``-1`` or the score is NaN are left out; categories without rows get
    mean 0.
    """
    valid = (codes >= 0) & np.isfinite(scores)
    if np.count_nonzero(valid) < 2:
        return np.zeros(categories), 0.0
    chosen = codes[valid]
    values = scores[valid]
    counts = np.bincount(chosen, minlength=categories).astype(np.float64)
    sums = np.bincount(chosen, weights=values, minlength=categories)
    means = np.divide(sums, counts, out=np.zeros(categories), where=counts > 0)
    overall = values.mean()
    total = float(np.sum((values - overall) ** 2))
    between = float(np.sum(counts * (means - overall) ** 2))
    return means, (between / total if total > 0 else 0.0)


def pairwise_correlation(scores: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of ``scores`` over rows where both are finite.

    Pairs with fewer than ``MIN_PAIR_ROWS`` common rows or without variance get 0.
    """
    present = np.isfinite(scores)
    mask = present.astype(np.float64)
    x = np.where(present, scores, 0.0)
    pair_rows = mask.T @ mask
    sum_left = x.T @ mask  # [i, j]: sum of column i over rows where j is present too
    sum_right = sum_left.T
    squares_left = (x * x).T @ mask
    squares_right = squares_left.T
    cross = x.T @ x
    covariance = pair_rows * cross - sum_left * sum_right
    variance = (pair_rows * squares_left - sum_left**2) * (pair_rows * squares_right - sum_right**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.sqrt(variance)
    usable = (pair_rows >= MIN_PAIR_ROWS) & (variance > 1e-12)
    correlation = np.where(usable, correlation, 0.0)
    np.fill_diagonal(correlation, 1.0)
    return np.clip(correlation, -1.0, 1.0)


def nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """A positive definite correlation matrix close to ``matrix`` (eigenvalue clipping)."""
    symmetric = (matrix + matrix.T) / 2.0
    eigenvalues, eigenvectors = np.linalg.eigh(symmetric)
    repaired = (eigenvectors * np.maximum(eigenvalues, _EIGEN_FLOOR)) @ eigenvectors.T
    scale = np.sqrt(np.diag(repaired))
    repaired = repaired / np.outer(scale, scale)
    np.fill_diagonal(repaired, 1.0)
    return repaired


@dataclass(frozen=True)
class GaussianCopula:
    """Correlation of the normal scores of modelled columns, ready to sample."""

    correlation: np.ndarray

    @classmethod
    def fit(
        cls, scores: np.ndarray, spreads: np.ndarray | None = None, ranks: np.ndarray | None = None
    ) -> GaussianCopula:
        """Fit on a (rows × columns) matrix of normal scores with NaN where missing.

        Args:
            scores: Normal scores per row and column.
            spreads: Per column, how much cutting into categories shrinks correlations (1 for
                numbers); correlations are divided by both spreads so that the categories cut
                from the sampled normals show the real association again.
            ranks: Ranks of the numeric columns (NaN columns for categories). Pairs of numbers
                then take ``2 sin(π ρS / 6)`` from their Spearman correlation ρS, the Gaussian
                copula whose Spearman correlation is the real one.
        """
        if scores.shape[1] == 0:
            return cls(np.zeros((0, 0)))
        correlation = pairwise_correlation(scores)
        if spreads is not None:
            safe = np.where(spreads > 0.05, spreads, 1.0)
            corrected = np.outer(safe, safe) < 1.0
            shrunk = np.clip(correlation / np.outer(safe, safe), -_MAX_LATENT, _MAX_LATENT)
            correlation = np.where(corrected, shrunk, correlation)
        if ranks is not None:
            numeric = np.isfinite(ranks).any(axis=0)
            both = np.outer(numeric, numeric)
            spearman = pairwise_correlation(ranks)
            correlation = np.where(both, 2.0 * np.sin(np.pi * spearman / 6.0), correlation)
        np.fill_diagonal(correlation, 1.0)
        return cls(nearest_correlation(correlation))

    def sample_uniforms(self, rows: int, rng: np.random.Generator) -> np.ndarray:
        """``rows`` draws of the copula: a (rows × columns) matrix of dependent uniforms."""
        dimension = self.correlation.shape[0]
        if dimension == 0:
            return np.zeros((rows, 0))
        factor = np.linalg.cholesky(self.correlation)
        normals = rng.standard_normal((rows, dimension)) @ factor.T
        uniforms = np.empty((rows, dimension), order="F")
        for column in range(dimension):  # column by column: fewer large temporaries
            uniforms[:, column] = norm_cdf(normals[:, column])
        return uniforms
