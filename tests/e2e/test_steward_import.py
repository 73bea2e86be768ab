"""A data steward imports a file through the browser and classifies its columns."""

from __future__ import annotations

from pathlib import Path

from countyos.catalog.datasets import get_dataset
from tests.e2e.conftest import County, login

CSV = (
    "户籍编号,村社代码,身份证号,登记日期,补贴金额\n"
    "P0001,000123,110105194912310021,2024-01-05,1200.50\n"
    "P0002,000456,11010519491231002X,2024-02-11,980\n"
    "P0003,000789,110105194912310048,2024-03-20,1500.25\n"
    "P0004,001002,110105194912310056,2024-04-02,700\n"
)


def test_steward_imports_a_file_with_a_type_override_and_classifies_it(
        county: County, browser_context, shot, tmp_path: Path) -> None:
    source = tmp_path / "subsidies.csv"
    source.write_bytes(CSV.encode("gb18030"))          # a typical government export
    page = browser_context().new_page()
    login(page, county, "steward_gongan")
    assert page.locator("#card-my-datasets").count() == 1
    shot(page, "home")

    page.click("nav.main-nav >> text=数据导入")
    # the form checks every field and says what is wrong next to it
    page.click("form button.primary")
    assert "请填写数据集标识" in page.inner_text(".field:has(#f-name) .field-error")
    assert "请选择数据所属部门" in page.inner_text(".field:has(#f-department) .field-error")
    assert "请选择要导入的文件" in page.inner_text(".field:has(#f-file) .field-error")
    page.fill("#f-name", "Bad-Name")
    page.click("form button.primary")
    assert "小写字母" in page.inner_text(".field:has(#f-name) .field-error")

    page.fill("#f-name", "elderly_subsidy")
    page.select_option("#f-department", "public_security")
    page.fill("#f-title_zh", "高龄补贴发放名单")
    page.set_input_files("#f-file", str(source))
    page.click("form button.primary")
    page.wait_for_selector("table.preview")
    assert "GB18030" in page.inner_text("form.card").upper()
    assert "string" in page.locator("table.preview select[data-column='村社代码']").inner_text()
    column = page.locator("table.preview select[data-column='补贴金额']")
    assert "float64" in column.inner_text().split("\n")[0]        # money wants exact decimals
    column.select_option("decimal(18,2)")
    assert page.is_disabled("#start-import")                     # a changed type is checked first
    page.click("#check-types")
    page.wait_for_selector("table.preview")
    assert page.locator("table.preview tbody tr").count() == 4
    assert "000123" in page.inner_text("table.preview tbody")
    # a type that does not fit is reported next to that column, and nothing is imported
    page.locator("table.preview select[data-column='户籍编号']").select_option("int64")
    page.click("#check-types")
    assert page.locator("th.has-error .field-error").count() == 1
    assert page.is_disabled("#start-import")
    page.locator("table.preview select[data-column='户籍编号']").select_option("")
    page.click("#check-types")
    shot(page, "preview")

    page.click("#start-import")
    page.wait_for_selector("#import-progress[data-status='done']", timeout=30_000)
    assert "4" in page.inner_text("#import-progress .alert")
    shot(page, "progress")
    page.click("#open-dataset")
    page.wait_for_selector("#schema")
    with county.hub.db.session() as session:
        dataset = get_dataset(session, "elderly_subsidy")
        types = {c.name: c.data_type for c in dataset.columns}
        proposed = {c.name: c.level for c in dataset.columns}
    assert types["村社代码"] == "string"                           # leading zeros kept
    assert types["补贴金额"] == "decimal128(18, 2)" and types["登记日期"].startswith("date")
    assert proposed["身份证号"] == "core"                          # the classifier saw the IDs

    row = page.locator("tr:has(code:text-is('补贴金额'))")
    assert "待确认" in row.inner_text()
    row.locator("select[name=level]").select_option("sensitive")
    row.locator("input[name=personal]").check()
    row.locator("form.classify button[type=submit]").click()
    saved = page.locator("tr.saved:has(code:text-is('补贴金额'))")
    saved.wait_for()
    assert "已确认" in saved.inner_text()
    with county.hub.db.session() as session:
        column = next(c for c in get_dataset(session, "elderly_subsidy").columns if c.name == "补贴金额")
        assert (column.level, column.personal, column.confirmed) == ("sensitive", True, True)
    saved.scroll_into_view_if_needed()
    shot(page, "classified")

    # another department's steward sees the dataset's metadata but cannot classify or read rows
    other = browser_context().new_page()
    login(other, county, "steward_gongdian")
    other.goto("/catalog/elderly_subsidy")
    assert other.locator("form.classify").count() == 0
    assert other.locator("text=预览数据行").count() == 0
    response = other.request.post("/catalog/elderly_subsidy/columns/补贴金额",
                                  form={"level": "public"}, max_redirects=0)
    assert response.status == 403                                # no CSRF token, and not allowed
