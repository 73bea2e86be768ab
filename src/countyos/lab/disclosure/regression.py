"""Disclosure check of regression outputs: enough residual degrees of freedom.

Owns the rule that a fitted model may be released only when its residual degrees of freedom are
at or above a minimum (ACRO's ``safe_dof_threshold``, default 10): with fewer, the model is close
to a lookup table of its own training rows. This module must not fit models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from countyos.errors import InvalidInputError

DEFAULT_MIN_DF = 10


@dataclass(frozen=True)
class RegressionCheck:
    """The outcome of the degrees-of-freedom check.

    Attributes:
        passed: whether the model output may be released.
        status: ``"ok"`` or ``"dof"`` (too few residual degrees of freedom).
        residual_df: the model's residual degrees of freedom.
        min_df: the minimum required.
        reason_en: why, in English.
        reason_zh: why, in Chinese.
    """

    passed: bool
    status: Literal["ok", "dof"]
    residual_df: int
    min_df: int
    reason_en: str
    reason_zh: str


def check_regression(residual_df: int, min_df: int = DEFAULT_MIN_DF) -> RegressionCheck:
    """Check the residual degrees of freedom of a fitted model.

    Args:
        residual_df: residual degrees of freedom (observations minus estimated parameters).
        min_df: the minimum for release (at or above passes).

    Returns:
        The outcome with reasons in English and Chinese.

    Raises:
        InvalidInputError: a non-integer or negative argument.
    """
    for name, value in (("residual_df", residual_df), ("min_df", min_df)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"{name} must be a whole number", details={name: value})
    if min_df < 1:
        raise InvalidInputError("min_df must be at least 1", details={"min_df": min_df})
    if residual_df < 0:
        raise InvalidInputError(
            "residual_df cannot be negative", details={"residual_df": residual_df}
        )
    if residual_df >= min_df:
        return RegressionCheck(
            True,
            "ok",
            residual_df,
            min_df,
            f"The model has at least {min_df} residual degrees of freedom.",
            f"模型的残差自由度不少于{min_df}。",
        )
    return RegressionCheck(
        False,
        "dof",
        residual_df,
        min_df,
        f"The model has fewer than {min_df} residual degrees of freedom; it could reproduce "
        "individual training rows.",
        f"模型的残差自由度少于{min_df}，可能还原出个别训练记录。",
    )
