"""One message catalog: every visible string goes through it and has its Chinese translation."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from countyos.web.pages.i18n import CATALOG_DIR, catalog_path, normalise
from tests.unit.web.conftest import Portal

WEB = Path(__file__).resolve().parents[3] / "src" / "countyos" / "web"
TEMPLATES = WEB / "templates"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
VISIBLE_ATTRIBUTES = ("placeholder", "title", "alt", "aria-label")
WORDS = re.compile(r"[A-Za-z\u4e00-\u9fff]+")
#: words that are not language: the product's name, the version prefix (v3), SQL in code fields
NOT_LANGUAGE = {"CountyOS", "v", "SQL", "SELECT", "FROM", "LIMIT"}


def _extracted() -> set[str]:
    method_map = [("src/countyos/web/pages/**.py", "python"),
                  ("src/countyos/web/templates/**.html", "jinja2")]
    options = {"src/countyos/web/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    root = WEB.parents[2]
    found = extract_from_dir(str(root), method_map, options_map=options,
                             keywords={"_": None, "gettext": None, "N_": None})
    return {message if isinstance(message, str) else message[0]
            for _filename, _line, message, _comments, _context in found}


def _catalog() -> dict[str, str]:
    with catalog_path("zh").open("rb") as source:
        catalog = read_po(source)
    return {m.id: m.string for m in catalog if m.id and not m.fuzzy}


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    extracted = _extracted()
    catalog = _catalog()
    assert len(extracted) > 200
    missing = sorted(m for m in extracted if not catalog.get(m))
    assert missing == [], f"messages without a Chinese translation: {missing}"
    for message_id in extracted:
        assert set(PLACEHOLDER.findall(message_id)) == set(PLACEHOLDER.findall(catalog[message_id])), \
            message_id
    stale = sorted(set(catalog) - extracted)
    assert stale == [], f"catalog entries no page uses any more: {stale}"
    with (CATALOG_DIR / "countyos.pot").open("rb") as source:
        assert {m.id for m in read_po(source) if m.id} == extracted   # the template is current


class _VisibleText(HTMLParser):
    """Text nodes and visible attributes of a template with every Jinja expression removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found += [value for name, value in attrs if name in VISIBLE_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def _without_jinja(source: str) -> str:
    """The template's literal markup: Jinja tags, expressions and comments blanked out."""
    lexer = Environment(extensions=["jinja2.ext.i18n"]).lexer
    literal = []
    for _line, token, value in lexer.tokeniter(source, "template"):
        literal.append(value if token == "data" else " ")
    return "".join(literal)


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_visible_text_outside_the_catalog(template: str) -> None:
    parser = _VisibleText()
    parser.feed(_without_jinja((TEMPLATES / template).read_text(encoding="utf-8")))
    offending = [text.strip() for text in parser.found
                 if set(WORDS.findall(text)) - NOT_LANGUAGE - {"cos"}]
    assert offending == [], f"{template}: untranslated visible text {offending}"


@pytest.mark.parametrize("given, expected", [("zh-CN", "zh"), ("zh_Hans", "zh"), ("EN", "en"),
                                             ("en-GB", "en"), ("fr", None), ("", None), (None, None)])
def test_language_names_are_normalised(given: str | None, expected: str | None) -> None:
    assert normalise(given) == expected


def test_chinese_by_default_english_by_choice(portal: Portal) -> None:
    client = portal.login("viewer")
    assert "数据目录" in client.get("/catalog").text
    english = client.get("/catalog?lang=en")
    assert "<h1>Data catalog</h1>" in english.text and "数据目录" not in english.text
    assert "countyos_lang=en" in english.headers["set-cookie"]
    assert "<h1>Data catalog</h1>" in client.get("/catalog").text          # the cookie remembers
    switched = client.get("/lang/zh?next=//evil.example")
    assert switched.headers["location"] == "/"                             # no open redirect
    assert "数据目录" in client.get("/catalog").text
