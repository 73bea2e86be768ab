"""Catalog search: tokenising Chinese and English, BM25F ranking with field weights."""

from __future__ import annotations

import pytest

from countyos.catalog.search import MAX_QUERY_CHARS, SearchDocument, SearchIndex, tokenize
from countyos.errors import InvalidInputError, TooLargeError


def _doc(key: str, title: str, description: str = "", columns: str = "") -> SearchDocument:
    return SearchDocument(key, {"name": key, "title": title, "description": description,
                                "columns": columns})


CATALOG = [
    _doc("population_registry", "人口户籍信息 Household registration",
         "全县常住人口与户籍人口登记，按乡镇汇总", "person_id 人员编号 xm 姓名 age 年龄 township 乡镇"),
    _doc("power_daily", "企业日用电量", "daily electricity consumption per enterprise",
         "uscc 统一社会信用代码 kwh 用电量 reading_date"),
    _doc("enterprise_registry", "企业登记信息 Enterprise register",
         "市场监管局企业注册登记，含注册资本与行业", "uscc 统一社会信用代码 企业名称 行业 注册资本"),
    _doc("enterprise_tax", "企业纳税 Enterprise taxes", "税务局按月汇总的企业纳税额",
         "uscc 统一社会信用代码 taxAmount 纳税额 month"),
    _doc("medical_insurance", "医保缴费记录", "individual medical insurance contributions",
         "person_id contribution_base 缴费基数 payment_records"),
    _doc("school_students", "学生学籍", "在校学生名册 student roster", "student_id age 年龄 grade 年级"),
    _doc("weather", "气象观测", "hourly weather observations", "station temperature humidity"),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(CATALOG)


def _keys(results: list[tuple[str, float]]) -> list[str]:
    return [key for key, _ in results]


# -- tokenising ------------------------------------------------------------------------------


def test_cjk_runs_become_bigrams_and_lone_characters_unigrams() -> None:
    assert tokenize("人口户籍") == ["人口", "口户", "户籍"]
    assert tokenize("电") == ["电"]
    assert tokenize("用电 量") == ["用电", "量"]


def test_latin_text_splits_snake_and_camel_case_and_lowers() -> None:
    assert tokenize("dailyElectricityConsumption") == ["daily", "electricity", "consumption"]
    assert tokenize("contribution_base") == ["contribution", "base"]
    assert tokenize("HTTPServer ID") == ["http", "server", "id"]


def test_plurals_are_stemmed_and_stop_words_dropped() -> None:
    assert tokenize("records companies addresses boxes the status of analysis") == [
        "record", "company", "address", "box", "status", "analysis"]
    assert tokenize("record company address") == ["record", "company", "address"]


def test_mixed_and_full_width_text() -> None:
    assert tokenize("2023年人口Age") == ["2023", "年人", "人口", "age"]
    assert tokenize("ＧＤＰ统计") == tokenize("GDP统计") == ["gdp", "统计"]
    assert tokenize("") == [] and tokenize("，。！ ...") == []


# -- ranking ---------------------------------------------------------------------------------


def test_chinese_word_finds_population_registry_and_not_power_data(index: SearchIndex) -> None:
    keys = _keys(index.search("人口"))
    assert keys[0] == "population_registry"
    assert "power_daily" not in keys


def test_english_word_in_description_finds_power_data(index: SearchIndex) -> None:
    keys = _keys(index.search("electricity"))
    assert keys == ["power_daily"]


def test_enterprise_datasets_rank_first_for_enterprise(index: SearchIndex) -> None:
    keys = _keys(index.search("企业"))
    assert set(keys[:3]) == {"power_daily", "enterprise_registry", "enterprise_tax"}
    assert "population_registry" not in keys


def test_mixed_query_prefers_documents_matching_both_languages(index: SearchIndex) -> None:
    keys = _keys(index.search("人口 age"))
    assert keys[0] == "population_registry"
    assert "school_students" in keys  # matches "age" only, so ranks lower
    assert keys.index("school_students") > 0


def test_query_that_matches_nothing_returns_empty(index: SearchIndex) -> None:
    assert index.search("火山 volcano") == []
    assert index.search("") == []
    assert index.search("   ，。 ") == []


def test_plural_and_camel_case_reach_singular_and_snake_case(index: SearchIndex) -> None:
    assert _keys(index.search("contributions"))[0] == "medical_insurance"
    assert _keys(index.search("payment record"))[0] == "medical_insurance"
    assert "enterprise_tax" in _keys(index.search("tax amount"))


def test_single_chinese_character_finds_bigrams_containing_it(index: SearchIndex) -> None:
    keys = _keys(index.search("电"))
    assert keys[0] == "power_daily"


def test_title_outweighs_description_and_weights_can_be_changed() -> None:
    documents = [
        SearchDocument("in_title", {"title": "养老保险", "description": "按月统计"}),
        SearchDocument("in_description", {"title": "按月统计", "description": "养老保险"}),
    ]
    assert _keys(SearchIndex(documents).search("养老")) == ["in_title", "in_description"]
    flipped = SearchIndex(documents, field_weights={"title": 1.0, "description": 5.0})
    assert _keys(flipped.search("养老")) == ["in_description", "in_title"]
    ignored = SearchIndex(documents, field_weights={"title": 1.0, "description": 0.0})
    assert _keys(ignored.search("养老")) == ["in_title"]


def test_matching_more_terms_beats_repeating_one() -> None:
    documents = [
        SearchDocument("both", {"title": "water quality"}),
        SearchDocument("repeat", {"title": "water water water water"}),
        SearchDocument("other", {"title": "air quality"}),
    ]
    assert _keys(SearchIndex(documents).search("water quality"))[0] == "both"


def test_rare_terms_weigh_more_than_common_ones() -> None:
    documents = [SearchDocument(f"d{i}", {"title": "统计 数据"}) for i in range(20)]
    documents.append(SearchDocument("rare", {"title": "统计 耕地"}))
    documents.append(SearchDocument("common", {"title": "统计 数据 报表"}))
    results = SearchIndex(documents).search("耕地 数据")
    assert results[0][0] == "rare"


def test_limit_scores_and_ties_are_deterministic(index: SearchIndex) -> None:
    results = index.search("企业 uscc", limit=2)
    assert len(results) == 2
    scores = [score for _, score in index.search("企业 uscc")]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    twins = SearchIndex([SearchDocument("b", {"title": "水质"}), SearchDocument("a", {"title": "水质"})])
    assert _keys(twins.search("水质")) == ["a", "b"]


def test_a_few_thousand_documents_index_and_rank() -> None:
    words = ["人口", "企业", "交通", "教育", "医疗", "农业", "环境", "税务"]
    documents = [
        SearchDocument(f"ds_{i:04d}", {"name": f"ds_{i:04d}", "title": words[i % 8] + "统计",
                                       "description": f"{words[(i * 3) % 8]} monthly report {i}",
                                       "columns": "id value township year"})
        for i in range(3000)
    ]
    documents.append(SearchDocument("needle", {"title": "耕地保护红线", "description": "farmland"}))
    index = SearchIndex(documents)
    assert len(index) == 3001 and "needle" in index
    assert index.search("farmland") == index.search("farmlands")
    assert _keys(index.search("耕地 farmland"))[0] == "needle"
    assert len(index.search("人口", limit=50)) == 50


# -- bad input -------------------------------------------------------------------------------


def test_empty_index_and_none_fields() -> None:
    assert SearchIndex([]).search("人口") == []
    index = SearchIndex([SearchDocument("x", {"title": "人口", "description": None})])  # type: ignore[dict-item]
    assert _keys(index.search("人口")) == ["x"]


def test_duplicate_keys_and_bad_weights_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="dup"):
        SearchIndex([SearchDocument("dup", {}), SearchDocument("dup", {})])
    with pytest.raises(InvalidInputError):
        SearchIndex([SearchDocument("", {})])
    with pytest.raises(InvalidInputError):
        SearchIndex([], field_weights={"title": -1.0})
    with pytest.raises(InvalidInputError):
        SearchIndex([], field_weights={"title": float("nan")})
    with pytest.raises(InvalidInputError):
        SearchIndex([SearchDocument("x", {"title": 42})])  # type: ignore[dict-item]


def test_bad_limit_and_oversized_query_are_refused(index: SearchIndex) -> None:
    for limit in (0, -1, True, 2.5):
        with pytest.raises(InvalidInputError):
            index.search("人口", limit=limit)  # type: ignore[arg-type]
    with pytest.raises(TooLargeError):
        index.search("人" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(InvalidInputError):
        index.search(None)  # type: ignore[arg-type]
