"""Primary disclosure checks of single cells: minimum units, zeros, p% and (n,k) dominance.

Owns the per-cell rules. Dominance is computed on ABSOLUTE unit contributions: a unit's
contribution is ``|sum of its rows in the cell|`` and the cell total is the sum of those absolute
values, so a unit with a large negative total (a loss, a refund) is a dominant contributor like a
large positive one, and positive and negative units cannot cancel out to hide one. ACRO 1.0.2
computes dominance on signed values and, as soon as any cell of a table holds a negative value,
skips dominance for the whole table and only marks the cells that contain negatives for review,
so a dominated cell elsewhere in that table passes (see ``docs/lab-disclosure.md``).

This module must not look at other cells (that is :mod:`.secondary`), at earlier releases
(:mod:`.differencing`) or at data rows.
"""

from __future__ import annotations

from countyos.errors import InvalidInputError
from countyos.lab.disclosure.cells import CellStats
from countyos.lab.disclosure.rules import DOMINANCE_STATISTICS, DisclosureRules
from countyos.lab.disclosure.status import CellStatus


def fails_threshold(n_entities: int, rules: DisclosureRules) -> bool:
    """Whether a non-empty cell has fewer distinct units than the threshold."""
    return 0 < n_entities < rules.threshold


def is_disclosive_zero(cell: CellStats, rules: DisclosureRules) -> bool:
    """Whether an empty cell must be suppressed (not structural, and zeros are disclosive)."""
    if cell.n_entities != 0:
        return False
    if cell.key in rules.structural_zeros:
        return False
    return rules.zeros_disclosive


def fails_p_percent(abs_total: float, top: tuple[float, ...], p_percent: float) -> bool:
    """The p% rule on absolute contributions.

    A cell is unsafe when ``abs_total - top1 - top2 < p/100 * top1``: the second largest
    contributor, knowing the published total, could estimate the largest to within p%. A cell
    whose contributions are all zero is unsafe too: it reveals every contributor's value exactly
    (ACRO flags these as well). Comparisons are made as ``100 * rest < p * top1`` so that
    boundaries are exact for whole numbers.

    Args:
        abs_total: sum of absolute unit contributions.
        top: the largest absolute contributions, descending (missing ones count as 0).
        p_percent: p of the rule, in percent.

    Returns:
        True when the cell fails the rule.
    """
    top1 = top[0] if top else 0.0
    top2 = top[1] if len(top) > 1 else 0.0
    if abs_total <= 0:
        return True
    rest = abs_total - top1 - top2
    return 100.0 * rest < p_percent * top1


def fails_nk(abs_total: float, top: tuple[float, ...], n: int, k_percent: float) -> bool:
    """(n,k)-dominance on absolute contributions.

    A cell is unsafe when its ``n`` largest contributors make up ``k`` percent or more of the
    total (``100 * sum(top n) >= k * total``; equality fails, as in ACRO). An all-zero cell is
    left to the p% rule.

    Args:
        abs_total: sum of absolute unit contributions.
        top: the largest absolute contributions, descending.
        n: how many contributors are considered.
        k_percent: k of the rule, in percent.

    Returns:
        True when the cell fails the rule.
    """
    if abs_total <= 0:
        return False
    return 100.0 * sum(top[:n]) >= k_percent * abs_total


def dominance_failures(cell: CellStats, rules: DisclosureRules) -> tuple[CellStatus, ...]:
    """The dominance checks a non-empty sum/mean-like cell fails (empty tuple when it passes).

    Raises:
        InvalidInputError: the cell lacks ``abs_total`` or enough ``top_contributions``; a cell
            that cannot be checked is refused, never passed.
    """
    if cell.statistic not in DOMINANCE_STATISTICS or cell.n_entities == 0:
        return ()
    if cell.abs_total is None:
        raise InvalidInputError(
            f"a {cell.statistic} cell needs abs_total for the dominance checks",
            details={"statistic": cell.statistic},
        )
    needed = min(cell.n_entities, rules.contributions_needed)
    if len(cell.top_contributions) < needed:
        raise InvalidInputError(
            f"a {cell.statistic} cell needs its {needed} largest unit contributions for the "
            "dominance checks",
            details={"statistic": cell.statistic},
        )
    failed: list[CellStatus] = []
    abs_total = float(cell.abs_total)
    if fails_p_percent(abs_total, cell.top_contributions, rules.p_percent):
        failed.append(CellStatus.DOMINANCE_P)
    if fails_nk(abs_total, cell.top_contributions, rules.nk_n, rules.nk_k):
        failed.append(CellStatus.DOMINANCE_NK)
    return tuple(failed)


def primary_failures(cell: CellStats, rules: DisclosureRules) -> tuple[CellStatus, ...]:
    """Every primary check one cell fails, in report order (empty tuple when it passes).

    Empty cells are ``zero`` (unless structural or zeros are not disclosive) and get no other
    check. Non-empty cells get the threshold and, for sum/mean-like statistics, both dominance
    checks; all failures are listed so a steward sees every reason.

    Args:
        cell: the statistics of the cell.
        rules: the risk appetite.

    Returns:
        The failed checks, a subset of ``zero, threshold, dominance_p, dominance_nk``.
    """
    if cell.n_entities == 0:
        return (CellStatus.ZERO,) if is_disclosive_zero(cell, rules) else ()
    failed: list[CellStatus] = []
    if fails_threshold(cell.n_entities, rules):
        failed.append(CellStatus.THRESHOLD)
    failed.extend(dominance_failures(cell, rules))
    return tuple(failed)
