"""OpenDP measurements: noise for counts and sums, DP key selection, and their calibration.

Owns building each OpenDP measurement an answer needs, choosing its noise scale so that OpenDP's
own privacy map stays within the share of the query's budget, and invoking it on the exact
aggregates from DuckDB:

- counts and sums (integers on each column's grid, so float columns are summed exactly) get
  OpenDP's discrete Laplace (``make_laplace`` on ``i64``, pure ε) or discrete Gaussian
  (``make_gaussian`` on ``i64``, zCDP) over the vector of all groups at once; the L1 / L2
  sensitivity of that vector is k × the largest value one row can add;
- GROUP BY keys without a public domain come from OpenDP's threshold mechanisms
  (``make_laplace_threshold`` / ``make_gaussian_threshold``): a key is released only if its noisy
  count clears a threshold chosen so that the chance of revealing a rare key is at most δ.

All noise is sampled by OpenDP (floating-point safe: integer inputs and discrete
distributions). Must not read data or decide what is charged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import opendp.prelude as dp

from countyos.errors import InternalError, TooLargeError
from countyos.lab.dp.params import Accounting

dp.enable_features("contrib")

_I64_MAX = 2**63 - 1


@dataclass(frozen=True)
class MechanismRecord:
    """What one mechanism did, for the answer and the audit trail.

    Attributes:
        target: the output column(s) or ``GROUP BY keys``.
        mechanism: OpenDP's mechanism name.
        scale: the noise scale (in the values' grid units).
        sensitivity: the sensitivity (in the metric OpenDP maps from).
        loss: OpenDP's privacy map at that sensitivity: ε (pure) or ρ (zCDP).
        delta: the δ of a threshold mechanism, else 0.
        note: anything else a reader needs (threshold, grid step, candidates).
    """

    target: str
    mechanism: str
    scale: float
    sensitivity: float
    loss: float
    delta: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "mechanism": self.mechanism, "scale": self.scale,
            "sensitivity": self.sensitivity, "loss": self.loss, "delta": self.delta,
            "note": self.note,
        }


def calibrate_scale(
    loss_at: Callable[[float], float], target: float, accounting: Accounting
) -> float:
    """The smallest noise scale (to 1e-9 relative) whose OpenDP privacy loss is ≤ ``target``.

    Args:
        loss_at: builds the measurement at a scale and returns OpenDP's map at the fixed input
            distance (ε for pure accounting, ρ for zCDP).
        target: the loss allowed for this mechanism.
        accounting: pure losses fall as 1/scale, zCDP losses as 1/scale².

    Raises:
        InternalError: no scale meets the target (a bug).
    """
    if not target > 0:
        raise InternalError("a mechanism was given no privacy budget")
    probe = loss_at(1.0)
    if probe <= 0:
        return 1.0
    ratio = probe / target
    scale = ratio if accounting is Accounting.PURE else math.sqrt(ratio)
    for _ in range(200):
        if loss_at(scale) <= target:
            return scale
        scale *= 1.0 + 1e-9 * 2 ** min(_, 40)
    raise InternalError("could not calibrate a noise scale to the privacy budget")


def _vector_space(accounting: Accounting) -> tuple[Any, Any]:
    domain = dp.vector_domain(dp.atom_domain(T="i64"))
    if accounting is Accounting.PURE:
        return domain, dp.l1_distance(T="i64")
    return domain, dp.l2_distance(T="f64")


@functools.lru_cache(maxsize=1024)
def _vector_measurement(accounting: Accounting, scale: float) -> Any:
    domain, metric = _vector_space(accounting)
    if accounting is Accounting.PURE:
        return dp.m.make_laplace(domain, metric, scale=scale)
    return dp.m.make_gaussian(domain, metric, scale=scale)


def vector_distance(accounting: Accounting, l1: int, l2: float) -> int | float:
    """The input distance OpenDP's vector mechanism maps from: L1 (pure) or L2 (zCDP)."""
    return int(l1) if accounting is Accounting.PURE else float(l2)


@dataclass(frozen=True)
class VectorNoise:
    """A calibrated discrete Laplace or Gaussian over a vector of integers."""

    accounting: Accounting
    scale: float
    distance: int | float
    loss: float

    @property
    def name(self) -> str:
        return (
            "discrete Laplace (OpenDP make_laplace, i64)"
            if self.accounting is Accounting.PURE
            else "discrete Gaussian (OpenDP make_gaussian, i64)"
        )

    def release(self, values: Sequence[int] | np.ndarray) -> np.ndarray:
        """Noisy copies of ``values`` (exact integers), sampled by OpenDP."""
        array = np.asarray(values, dtype=object)
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        if any(abs(int(v)) > _I64_MAX // 2 for v in array):
            raise TooLargeError("an aggregate is too large for exact integer noise")
        measurement = _vector_measurement(self.accounting, self.scale)
        noisy = measurement(np.asarray([int(v) for v in array], dtype=np.int64))
        return np.asarray(noisy, dtype=np.int64)


@functools.lru_cache(maxsize=1024)
def vector_noise(accounting: Accounting, l1: int, l2: float, target: float) -> VectorNoise:
    """Calibrate a vector mechanism for a sensitivity (L1 for pure, L2 for zCDP) and a loss.

    Calibration depends only on public numbers, so results are cached (they are immutable).
    """
    distance = vector_distance(accounting, l1, l2)
    losses: dict[float, float] = {}

    def loss_at(scale: float) -> float:
        losses[scale] = float(_vector_measurement(accounting, scale).map(distance))
        return losses[scale]

    scale = calibrate_scale(loss_at, target, accounting)
    return VectorNoise(accounting, scale, distance, losses[scale])


@dataclass(frozen=True)
class KeySelection:
    """A calibrated OpenDP threshold mechanism over counts per key."""

    accounting: Accounting
    scale: float
    threshold: int
    distance: tuple[int, int | float, int]
    loss: float
    delta: float

    @property
    def name(self) -> str:
        return (
            "Laplace threshold (OpenDP make_laplace_threshold)"
            if self.accounting is Accounting.PURE
            else "Gaussian threshold (OpenDP make_gaussian_threshold)"
        )

    def release(self, counts: dict[str, int]) -> dict[str, int]:
        """The keys whose noisy count clears the threshold, with those noisy counts."""
        if not counts:
            return {}
        measurement = _threshold_measurement(self.accounting, self.scale, self.threshold)
        return {key: int(value) for key, value in measurement(counts).items()}


def _threshold_measurement(accounting: Accounting, scale: float, threshold: int) -> Any:
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
    if accounting is Accounting.PURE:
        metric = dp.l01inf_distance(dp.absolute_distance(T="i64"))
        return dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)
    metric = dp.l02inf_distance(dp.absolute_distance(T="i64"))
    return dp.m.make_gaussian_threshold(domain, metric, scale=scale, threshold=threshold)


@functools.lru_cache(maxsize=256)
def key_selection(
    accounting: Accounting, max_contributions: int, target: float, delta: float
) -> KeySelection:
    """Calibrate key selection: a scale for the loss share, then the least threshold meeting δ.

    One entity contributes at most k rows, so it touches at most k keys (L0 = k) and moves each
    count by at most k (L∞ = k, L1 = L2 = k).

    Raises:
        InternalError: no threshold meets δ (a bug: δ is checked to be positive before).
    """
    k = int(max_contributions)
    distance: tuple[int, int | float, int] = (k, k, k)

    def loss_delta(scale: float, threshold: int) -> tuple[float, float]:
        loss, delta_out = _threshold_measurement(accounting, scale, threshold).map(distance)
        return float(loss), float(delta_out)

    high = k  # OpenDP needs a threshold no smaller than the L∞ sensitivity
    scale = calibrate_scale(lambda s: loss_delta(s, 2**40)[0], target, accounting)
    while loss_delta(scale, high)[1] > delta:
        high *= 2
        if high > 2**50:
            raise InternalError("no key-selection threshold meets the δ asked for")
    low = max(high // 2, k - 1)
    while low + 1 < high:
        middle = (low + high) // 2
        if loss_delta(scale, middle)[1] <= delta:
            high = middle
        else:
            low = middle
    loss, delta_out = loss_delta(scale, high)
    return KeySelection(accounting, scale, high, distance, loss, delta_out)


#: Above this scale OpenDP's exact discrete-Gaussian accuracy (a sum over the support, linear
#: in the scale: 3.7 s at 10^7) is replaced by the continuous one rounded up plus one.
EXACT_GAUSSIAN_ACCURACY_MAX_SCALE = 20_000.0


@functools.lru_cache(maxsize=1024)
def interval_half_width(accounting: Accounting, scale: float, alpha: float = 0.05) -> float:
    """OpenDP's (1 − alpha) accuracy of discrete Laplace / Gaussian noise of ``scale``.

    For discrete Gaussians wider than ``EXACT_GAUSSIAN_ACCURACY_MAX_SCALE`` the bound is
    ``ceil(a) + 1`` with ``a`` OpenDP's continuous Gaussian accuracy: at such scales the discrete
    Gaussian's CDF equals the continuity-corrected normal CDF to far below float precision, so
    P(|Z| > ceil(a) + 1) ≤ P(|N| > a) = alpha (it equals OpenDP's exact value at 10^7).
    """
    if scale <= 0:
        return 0.0
    if accounting is Accounting.PURE:
        return float(dp.discrete_laplacian_scale_to_accuracy(scale, alpha))
    if scale > EXACT_GAUSSIAN_ACCURACY_MAX_SCALE:
        return float(math.ceil(dp.gaussian_scale_to_accuracy(scale, alpha)) + 1)
    return float(dp.discrete_gaussian_scale_to_accuracy(scale, alpha))
