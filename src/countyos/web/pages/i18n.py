"""The portal's languages: one gettext message catalog, Simplified Chinese by default.

Owns loading the catalog (``web/i18n/<lang>/LC_MESSAGES/countyos.po``, compiled in memory with
Babel at first use, so no ``.mo`` file has to be built or committed), choosing the language of a
request (``?lang=`` → ``countyos_lang`` cookie → the installation's default, ``Settings.language``)
and the ``N_`` marker for message ids defined in Python. Message ids are English; English pages
show them as they are. It must not render templates (``countyos.web.pages.rendering`` does).

Maintainers update the catalog with Babel (see ``docs/web.md``)::

    pybabel extract -F src/countyos/web/i18n/babel.cfg -o src/countyos/web/i18n/countyos.pot .
    pybabel update -i src/countyos/web/i18n/countyos.pot -d src/countyos/web/i18n -D countyos
"""

from __future__ import annotations

import io
import threading
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.requests import Request

CATALOG_DIR = Path(__file__).resolve().parent.parent / "i18n"
DOMAIN = "countyos"
LANGUAGES: dict[str, str] = {"zh": "简体中文", "en": "English"}
SOURCE_LANGUAGE = "en"
LANG_COOKIE = "countyos_lang"
_lock = threading.Lock()


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def catalog_path(language: str) -> Path:
    return CATALOG_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _translations(language: str) -> NullTranslations:
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    with catalog_path(language).open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def translations(language: str) -> NullTranslations:
    """The compiled translations of ``language`` (one of ``LANGUAGES``)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    with _lock:
        return _translations(language)


def normalise(language: str | None) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``ZH`` → ``zh``; unknown → None."""
    if not language:
        return None
    base = language.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def request_language(request: Request, default: str) -> str:
    """The language of this request: ``?lang=``, then the cookie, then ``default``."""
    return (normalise(request.query_params.get("lang"))
            or normalise(request.cookies.get(LANG_COOKIE))
            or normalise(default) or "zh")


def gettext_for(language: str):  # type: ignore[no-untyped-def]
    """The ``gettext`` function of ``language``."""
    return translations(language).gettext
