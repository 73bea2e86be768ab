"""Statistical disclosure control of the lab's aggregate outputs (输出披露风险检查).

Given the per-cell statistics of an aggregate output table, computed inside the trusted zone,
decide which cells may be released and say why, in English and Chinese:

- ``rules``        the risk appetite (:class:`DisclosureRules`; defaults are ACRO's);
- ``cells``        the input (:class:`CellStats`, :class:`OutputTable`, :data:`TOTAL` margins);
- ``primary``      per-cell checks: minimum distinct units, zeros, p% and (n,k) dominance on
                   absolute contributions;
- ``lines``, ``secondary``, ``audit``
                   complementary suppression so margins cannot give suppressed cells back, and
                   the exact linear audit of the resulting pattern;
- ``entity_sets``, ``released_store``, ``released_bytes``, ``released_focus``,
  ``differencing``
                   keyed-hash entity sets of released cells (stored, or deferred with a recipe
                   to recompute them) and the "same query with one person more" check;
- ``report``, ``messages``, ``status``
                   per-cell outcome and summary;
- ``checker``      :func:`check_table`, the whole pipeline, and :func:`record_release`;
- ``regression``   :func:`check_regression` (residual degrees of freedom);
- ``stats``        :func:`compute_cell_stats` / :func:`cell_entity_sets` from an Arrow table.

A pure library: no database, no web, no files. It must not release anything by itself; the
caller releases what the report allows and records it with :func:`record_release`.
"""

from countyos.lab.disclosure.audit import recoverable_cells
from countyos.lab.disclosure.cells import TOTAL, CellStats, OutputTable
from countyos.lab.disclosure.checker import (
    check_table,
    record_deferred,
    record_release,
    released_cell_id,
)
from countyos.lab.disclosure.differencing import DifferencingHit, find_differencing
from countyos.lab.disclosure.entity_sets import (
    entity_hashes,
    keyed_hashes,
    symmetric_difference_size,
)
from countyos.lab.disclosure.primary import primary_failures
from countyos.lab.disclosure.regression import RegressionCheck, check_regression
from countyos.lab.disclosure.released_focus import close_entries, differencing_focus
from countyos.lab.disclosure.released_store import (
    InMemoryReleasedCellStore,
    ReleasedCellStore,
    ReleasedEntry,
)
from countyos.lab.disclosure.report import CellOutcome, DisclosureReport
from countyos.lab.disclosure.rules import DisclosureRules
from countyos.lab.disclosure.secondary import SuppressionResult, complementary_suppression
from countyos.lab.disclosure.stats import cell_entity_sets, compute_cell_stats
from countyos.lab.disclosure.status import CellStatus

__all__ = [
    "TOTAL",
    "CellOutcome",
    "CellStats",
    "CellStatus",
    "DifferencingHit",
    "DisclosureReport",
    "DisclosureRules",
    "InMemoryReleasedCellStore",
    "OutputTable",
    "RegressionCheck",
    "ReleasedCellStore",
    "ReleasedEntry",
    "SuppressionResult",
    "cell_entity_sets",
    "check_regression",
    "check_table",
    "close_entries",
    "complementary_suppression",
    "compute_cell_stats",
    "differencing_focus",
    "entity_hashes",
    "find_differencing",
    "keyed_hashes",
    "primary_failures",
    "recoverable_cells",
    "record_deferred",
    "record_release",
    "released_cell_id",
    "symmetric_difference_size",
]
