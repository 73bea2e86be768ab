"""Vectorised string building."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from countyos.demo.textutil import ascii_rows, fill_templates, join, padded, pick


def test_padded_and_ascii_rows():
    assert padded(np.array([0, 7, 123]), 4).to_pylist() == ["0000", "0007", "0123"]
    with pytest.raises(ValueError):
        padded(np.array([10_000]), 4)
    with pytest.raises(ValueError):
        padded(np.array([-1]), 4)
    codes = np.frombuffer(b"ABCDEF", dtype=np.uint8).reshape(2, 3)
    assert ascii_rows(codes).to_pylist() == ["ABC", "DEF"]
    assert ascii_rows(np.zeros((0, 3), dtype=np.uint8)).to_pylist() == []


def test_join_and_pick_treat_nulls_as_empty():
    words = pick(["甲", "乙", ""], np.array([0, 1, 2]))
    assert join("<", words, pa.array(["x", None, "z"]), ">").to_pylist() == ["<甲x>", "<乙>", "<z>"]


def test_fill_templates_keeps_row_order():
    templates = ["{a}吃了{b}。", "没有字段。", "{b}和{a}"]
    which = np.array([2, 0, 1, 0, 2])
    slots = {"a": pa.array(["一", "二", "三", "四", "五"]),
             "b": pa.array(["甲", "乙", "丙", "丁", "戊"])}
    expected = ["甲和一", "二吃了乙。", "没有字段。", "四吃了丁。", "戊和五"]
    assert fill_templates(templates, which, slots).to_pylist() == expected
    assert fill_templates(templates, np.array([], dtype=int), slots).to_pylist() == []
