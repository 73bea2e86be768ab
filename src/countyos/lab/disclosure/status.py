"""The outcome vocabulary of disclosure checks: one status per cell.

Owns :class:`CellStatus` and the order in which a cell failing several checks is reported. It
must not implement any check.
"""

from __future__ import annotations

from enum import StrEnum


class CellStatus(StrEnum):
    """Why a cell is released or suppressed."""

    OK = "ok"
    ZERO = "zero"
    THRESHOLD = "threshold"
    DOMINANCE_P = "dominance_p"
    DOMINANCE_NK = "dominance_nk"
    DIFFERENCING = "differencing"
    COMPLEMENTARY = "complementary"

    @property
    def suppresses(self) -> bool:
        """Whether a cell with this status is withheld."""
        return self is not CellStatus.OK


#: Checks whose failure suppresses a cell on its own (primary suppression), in report order.
PRIMARY_STATUSES = (
    CellStatus.ZERO,
    CellStatus.THRESHOLD,
    CellStatus.DOMINANCE_P,
    CellStatus.DOMINANCE_NK,
    CellStatus.DIFFERENCING,
)


def leading_status(failed: tuple[CellStatus, ...] | frozenset[CellStatus]) -> CellStatus:
    """The status reported for a cell that failed the given primary checks (``OK`` if none)."""
    for status in PRIMARY_STATUSES:
        if status in failed:
            return status
    return CellStatus.OK
