"""The parameters of statistical disclosure control and the kinds of statistic they apply to.

Owns :class:`DisclosureRules` (threshold, p% rule, (n,k)-dominance, zeros) and the classification
of cell statistics (which ones get dominance checks). It must not compute anything from data and
must not know about tables, reports or storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from countyos.errors import InvalidInputError

#: Statistics that are linear in the contributions of the units: a single large contributor
#: dominates them, so they get the p% and (n,k) dominance checks.
DOMINANCE_STATISTICS = frozenset({"sum", "total", "mean", "avg", "average"})

#: Frequencies: threshold and zeros only.
COUNT_STATISTICS = frozenset({"count", "count_distinct", "frequency"})

#: Order statistics and spreads: threshold and zeros only (as ACRO treats them).
POSITIONAL_STATISTICS = frozenset(
    {"median", "quantile", "percentile", "min", "max", "mode", "std", "stddev", "var", "variance"}
)

KNOWN_STATISTICS = DOMINANCE_STATISTICS | COUNT_STATISTICS | POSITIONAL_STATISTICS


def normalise_statistic(statistic: str) -> str:
    """The canonical (lower-case) name of a cell statistic.

    Args:
        statistic: a statistic name such as ``"SUM"`` or ``"mean"``.

    Returns:
        The lower-case name.

    Raises:
        InvalidInputError: the statistic is not one CountyOS knows how to check; unknown
            statistics are refused rather than released unchecked.
    """
    if not isinstance(statistic, str):
        raise InvalidInputError("a cell statistic must be a name such as 'count' or 'sum'")
    name = statistic.strip().lower()
    if name not in KNOWN_STATISTICS:
        raise InvalidInputError(
            f"unknown cell statistic {statistic!r}; expected one of {sorted(KNOWN_STATISTICS)}",
            details={"statistic": statistic},
        )
    return name


def needs_dominance_check(statistic: str) -> bool:
    """Whether cells of this statistic get the p% and (n,k) dominance checks."""
    return normalise_statistic(statistic) in DOMINANCE_STATISTICS


@dataclass(frozen=True)
class DisclosureRules:
    """Risk appetite of one release: the thresholds every output cell is checked against.

    The defaults are ACRO's defaults (``default.yaml`` of acro 1.0.2: ``safe_threshold: 10``,
    ``safe_pratio_p: 0.10``, ``safe_nk_n: 2``, ``safe_nk_k: 0.90``, ``zeros_are_disclosive:
    True``), expressed in percent.

    Attributes:
        threshold: minimum number of distinct units (entity keys, not rows) behind a cell.
        p_percent: p% rule: a cell is unsafe when ``total - top1 - top2 < p/100 * top1``, i.e.
            the second largest contributor could estimate the largest to within p%.
        nk_n: (n,k)-dominance: number of largest contributors considered.
        nk_k: (n,k)-dominance: a cell is unsafe when its ``nk_n`` largest contributors make up
            ``nk_k`` percent or more of the cell total (ACRO flags equality too).
        structural_zeros: keys of cells the data steward declared structurally empty (e.g.
            "men × pregnant"); empty cells with these keys are released.
        zeros_disclosive: whether other empty cells are suppressed (class disclosure).
    """

    threshold: int = 10
    p_percent: float = 10.0
    nk_n: int = 2
    nk_k: float = 90.0
    structural_zeros: frozenset = field(default_factory=frozenset)
    zeros_disclosive: bool = True

    def __post_init__(self) -> None:
        _require_int("threshold", self.threshold, minimum=1)
        _require_int("nk_n", self.nk_n, minimum=1)
        _require_percent("p_percent", self.p_percent)
        _require_percent("nk_k", self.nk_k)
        if not isinstance(self.zeros_disclosive, bool):
            raise InvalidInputError("zeros_disclosive must be true or false")
        zeros = self.structural_zeros
        if zeros is None:
            zeros = frozenset()
        if isinstance(zeros, (str, bytes)) or not hasattr(zeros, "__iter__"):
            raise InvalidInputError("structural_zeros must be a set of cell keys (tuples)")
        keys = frozenset(tuple(key) if isinstance(key, list) else key for key in zeros)
        for key in keys:
            if not isinstance(key, tuple):
                raise InvalidInputError(
                    "every structural zero must be a cell key given as a tuple of group values"
                )
        object.__setattr__(self, "structural_zeros", keys)

    @property
    def contributions_needed(self) -> int:
        """How many of the largest contributions a cell must carry for the dominance checks."""
        return max(self.nk_n, 2)

    @classmethod
    def acro_defaults(cls) -> DisclosureRules:
        """The rules with ACRO's default risk appetite (the same as the defaults here)."""
        return cls(threshold=10, p_percent=10.0, nk_n=2, nk_k=90.0, zeros_disclosive=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description of the rules (structural zeros as lists)."""
        return {
            "threshold": self.threshold,
            "p_percent": self.p_percent,
            "nk_n": self.nk_n,
            "nk_k": self.nk_k,
            "zeros_disclosive": self.zeros_disclosive,
            "structural_zeros": sorted([repr(v) for v in key] for key in self.structural_zeros),
        }


def _require_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{name} must be a whole number of at least {minimum}", details={name: value}
        )


def _require_percent(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{name} must be a number of percent", details={name: value})
    if not math.isfinite(value) or not 0 < value <= 100:
        raise InvalidInputError(
            f"{name} must be a percentage above 0 and at most 100", details={name: value}
        )
