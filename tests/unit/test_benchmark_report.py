"""benchmarks/report.py: targets on a ratio's 95% interval, refused targets, the README cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import report


def _error_row(interval: tuple[float, float] | None, target: str = "ratio_ci95_high >= 1") -> dict:
    return report.row("count_1M", "mean_rel_error", "lower", 1.0, comparator="other",
                      comparator_value=0.9, ratio_ci95=interval, target=target)


def test_interval_reaching_one_meets_target_although_ratio_is_below_one() -> None:
    entry = _error_row((0.8, 1.05))
    assert entry["ratio"] == pytest.approx(0.9)
    assert entry["ratio_ci95"] == [0.8, 1.05]
    assert entry["met"] is True


def test_interval_below_one_misses_target() -> None:
    entry = _error_row((0.7, 0.95))
    assert entry["met"] is False


def test_low_end_is_a_subject_too() -> None:
    assert _error_row((1.1, 1.4), target="ratio_ci95_low > 1")["met"] is True
    assert _error_row((0.8, 1.4), target="ratio_ci95_low > 1")["met"] is False


def test_interval_target_without_interval_is_not_met() -> None:
    entry = _error_row(None)
    assert entry["met"] is False
    assert "ratio_ci95" not in entry


def test_plain_ratio_target_unchanged() -> None:
    entry = report.row("q_1M", "latency_s", "lower", 0.01, comparator="other",
                       comparator_value=0.5, target="ratio >= 20")
    assert entry["ratio"] == pytest.approx(50.0)
    assert entry["met"] is True
    assert "ratio_ci95" not in entry


@pytest.mark.parametrize("target", ["ratio_ci95_mid >= 1", "ratio_ci95 >= 1",
                                    "ratio_ci95_high => 1", "ratio_ci95_high >= one", ""])
def test_bad_target_refused(target: str) -> None:
    with pytest.raises(ValueError, match="bad target"):
        _error_row((0.8, 1.2), target=target)


def test_reversed_interval_refused() -> None:
    with pytest.raises(ValueError, match="bad interval"):
        _error_row((1.2, 0.8))


def test_readme_shows_interval_only_where_a_row_has_one(tmp_path: Path) -> None:
    rows = [_error_row((0.8, 1.05)),
            report.row("q_1M", "latency_s", "lower", 0.01, comparator="other",
                       comparator_value=0.5, target="ratio >= 20")]
    (tmp_path / "dp.json").write_text(json.dumps(
        {"benchmark": "dp", "date": "2026-11-30", "machine": "m", "command": "c", "rows": rows}),
        encoding="utf-8")
    lines = report.render_readme(tmp_path).splitlines()
    error_line = next(line for line in lines if line.startswith("| count_1M |"))
    latency_line = next(line for line in lines if line.startswith("| q_1M |"))
    assert "| 0.9 [0.8, 1.05] | `ratio_ci95_high >= 1` | yes |" in error_line
    assert "| 50 | `ratio >= 20` | yes |" in latency_line
