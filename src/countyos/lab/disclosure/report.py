"""The disclosure report of one output table: per-cell status and reason, plus a summary.

Owns :class:`CellOutcome` and :class:`DisclosureReport`, what a developer sees in pre-flight and
a steward reviews, and their JSON form. A report carries statuses, rule parameters and cell
labels; it never carries cell values, unit counts or contributions (the caller keeps values and
masks them with :meth:`DisclosureReport.mask`). This module must not run checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from countyos.lab.disclosure.cells import TOTAL
from countyos.lab.disclosure.messages import UNPROTECTABLE_TEXTS, summary_texts
from countyos.lab.disclosure.rules import DisclosureRules
from countyos.lab.disclosure.status import CellStatus

Overall = Literal["pass", "review", "fail"]


@dataclass(frozen=True)
class CellOutcome:
    """The decision on one cell.

    Attributes:
        key: the cell key (group labels; :data:`TOTAL` at margin positions).
        label: a readable form of the key.
        status: the reported status (first failed primary check, else ``complementary``/``ok``).
        failed_checks: every primary check the cell failed.
        released: whether the cell may be released.
        reason_en: why, in English.
        reason_zh: why, in Chinese.
    """

    key: tuple
    label: str
    status: CellStatus
    failed_checks: tuple[CellStatus, ...]
    released: bool
    reason_en: str
    reason_zh: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (key parts as strings, ``TOTAL`` as ``"__total__"``)."""
        return {
            "key": [_json_part(part) for part in self.key],
            "label": self.label,
            "status": self.status.value,
            "failed_checks": [status.value for status in self.failed_checks],
            "released": self.released,
            "reason_en": self.reason_en,
            "reason_zh": self.reason_zh,
        }


@dataclass(frozen=True)
class DisclosureReport:
    """The outcome of the disclosure checks of one output table.

    Attributes:
        table_id: the caller's name of the output (e.g. ``"job-42/table-1"``).
        statistic: the statistic of the table's cells.
        rules: the rules applied.
        cells: one outcome per cell, in the table's order.
        unprotectable: suppressed cells that no further suppression could protect.
    """

    table_id: str
    statistic: str
    rules: DisclosureRules
    cells: tuple[CellOutcome, ...]
    unprotectable: tuple[tuple, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Number of cells per status (every status present, zeros included)."""
        found = Counter(outcome.status for outcome in self.cells)
        return {status.value: found.get(status, 0) for status in CellStatus}

    @property
    def overall(self) -> Overall:
        """``pass`` when every cell can be released, ``fail`` when none can, else ``review``."""
        released = sum(1 for outcome in self.cells if outcome.released)
        if released == len(self.cells) and not self.unprotectable:
            return "pass"
        if released == 0:
            return "fail"
        return "review"

    @property
    def summary_en(self) -> str:
        """One English sentence summarising the outcome."""
        return self._summary()[0]

    @property
    def summary_zh(self) -> str:
        """One Chinese sentence summarising the outcome."""
        return self._summary()[1]

    def _summary(self) -> tuple[str, str]:
        counts = self.counts
        released = counts[CellStatus.OK.value]
        complementary = counts[CellStatus.COMPLEMENTARY.value]
        primary = len(self.cells) - released - complementary
        english, chinese = summary_texts(len(self.cells), released, primary, complementary)
        if self.unprotectable:
            english = f"{english} {UNPROTECTABLE_TEXTS[0]}"
            chinese = f"{chinese}{UNPROTECTABLE_TEXTS[1]}"
        return english, chinese

    @cached_property
    def _by_key(self) -> dict[tuple, CellOutcome]:
        return {outcome.key: outcome for outcome in self.cells}

    def outcome(self, key: tuple) -> CellOutcome:
        """The outcome of the cell with this key (``KeyError`` when absent)."""
        return self._by_key[key]

    def released_keys(self) -> frozenset[tuple]:
        """Keys of the cells that may be released."""
        return frozenset(outcome.key for outcome in self.cells if outcome.released)

    def suppressed_keys(self) -> frozenset[tuple]:
        """Keys of the withheld cells."""
        return frozenset(outcome.key for outcome in self.cells if not outcome.released)

    def mask(self, values: Mapping[tuple, Any]) -> dict[tuple, Any]:
        """The releasable form of the caller's values: suppressed cells become ``None``.

        Args:
            values: value per cell key (the caller's result table).

        Returns:
            The same keys; withheld cells (and keys the report does not know) map to ``None``.
        """
        released = self.released_keys()
        return {key: (value if key in released else None) for key, value in values.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the API, the review UI and the audit log."""
        return {
            "table_id": self.table_id,
            "statistic": self.statistic,
            "overall": self.overall,
            "summary_en": self.summary_en,
            "summary_zh": self.summary_zh,
            "counts": self.counts,
            "rules": self.rules.to_dict(),
            "unprotectable": [[_json_part(part) for part in key] for key in self.unprotectable],
            "cells": [outcome.to_dict() for outcome in self.cells],
        }


def _json_part(part: Any) -> Any:
    if part is TOTAL:
        return "__total__"
    if part is None or isinstance(part, (bool, int, float, str)):
        return part
    return str(part)
