"""Human-readable reasons for disclosure outcomes, in English and Simplified Chinese.

Owns the wording a developer sees in pre-flight and a steward reviews. Texts name the rule and its
parameters, never a protected value: no cell value, no count below the threshold, no contribution
and no size of a difference. This module must not decide outcomes.
"""

from __future__ import annotations

from countyos.lab.disclosure.rules import DisclosureRules
from countyos.lab.disclosure.status import CellStatus


def _fmt(number: float) -> str:
    return f"{number:g}"


def reason_texts(
    status: CellStatus,
    rules: DisclosureRules,
    *,
    structural: bool = False,
    released_cell_id: str | None = None,
) -> tuple[str, str]:
    """The (English, Chinese) reason for one status.

    Args:
        status: the outcome.
        rules: the rules applied (their parameters appear in the text).
        structural: the cell is a structural zero (for ``ok``).
        released_cell_id: the earlier release a ``differencing`` cell is too close to.

    Returns:
        A pair of sentences.
    """
    t = rules.threshold
    if status is CellStatus.OK:
        if structural:
            return (
                "Structural zero declared by the data steward; released.",
                "数据管家已声明为结构性零值，予以发布。",
            )
        return ("Passes all disclosure checks.", "通过全部披露风险检查。")
    if status is CellStatus.ZERO:
        return (
            "No unit contributes to this cell; zeros are treated as disclosive because an empty "
            "group can reveal that nobody in it has the attribute (class disclosure).",
            "该单元格没有任何贡献单位；空单元格可能泄露某一群体中无人具有该属性（类别泄露），"
            "按规则零值视为敏感。",
        )
    if status is CellStatus.THRESHOLD:
        return (
            f"Fewer than {t} distinct units contribute to this cell (minimum {t}).",
            f"该单元格的不同贡献单位少于{t}个（最低要求{t}个）。",
        )
    if status is CellStatus.DOMINANCE_P:
        p = _fmt(rules.p_percent)
        return (
            f"The largest contributor could be estimated to within {p}% by the second largest "
            f"(p% rule, p = {p}, on absolute contributions).",
            f"第二大贡献者可将最大贡献者的数值估计到{p}%以内（p%规则，p = {p}，按绝对贡献计算）。",
        )
    if status is CellStatus.DOMINANCE_NK:
        n, k = rules.nk_n, _fmt(rules.nk_k)
        return (
            f"The {n} largest contributors make up {k}% or more of the cell total "
            f"(({n}, {k}) dominance rule, on absolute contributions).",
            f"最大的{n}个贡献者占单元格合计的{k}%或以上（({n}, {k})支配规则，按绝对贡献计算）。",
        )
    if status is CellStatus.DIFFERENCING:
        earlier = released_cell_id or "an earlier output"
        return (
            f"Its contributing units differ from those of a cell already released ({earlier}) by "
            f"fewer than {t} units; the difference of the two results would disclose them.",
            f"其贡献单位与已发布的单元格（{earlier}）相差不足{t}个单位，"
            "两次结果相减即可泄露这些单位的信息（差分攻击）。",
        )
    if status is CellStatus.COMPLEMENTARY:
        return (
            "Suppressed to protect other suppressed cells: otherwise they could be recovered "
            "from this table's totals (complementary suppression).",
            "为保护其他已抑制的单元格而一并抑制（互补抑制），否则可由本表合计数反推出它们。",
        )
    raise ValueError(f"no text for status {status!r}")


UNPROTECTABLE_TEXTS = (
    "Some suppressed cells stay exposed: their line has no cell left to suppress and its total is "
    "known (e.g. a whole row below the threshold with a published total). A steward must review.",
    "部分已抑制的单元格仍有暴露风险：所在行或列已无可抑制的单元格，且其合计数已知"
    "（例如整行低于阈值而合计已公布）。须由数据管家审核。",
)


def summary_texts(
    n_cells: int, n_released: int, n_primary: int, n_complementary: int
) -> tuple[str, str]:
    """The (English, Chinese) one-line summary of a table's outcome (counts of cells only)."""
    suppressed = n_cells - n_released
    if suppressed == 0:
        return (
            f"All {n_cells} cells pass the disclosure checks and can be released.",
            f"全部{n_cells}个单元格通过披露风险检查，可以发布。",
        )
    return (
        f"{n_released} of {n_cells} cells can be released; {suppressed} are suppressed "
        f"({n_primary} failing a check, {n_complementary} to protect them).",
        f"{n_cells}个单元格中{n_released}个可以发布；{suppressed}个被抑制"
        f"（{n_primary}个未通过检查，{n_complementary}个为保护前者而互补抑制）。",
    )
