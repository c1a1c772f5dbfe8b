"""Polish and English: templates are written in English, Polish comes from a Babel message
catalog (`locale/pl/LC_MESSAGES/messages.po`, extracted with `pybabel`, see docs/console.md).

The `.po` file is compiled in memory when first used (Babel's own compiler), so there is no
build step and no binary `.mo` file to keep in step with its source. The language is the
operator's choice (a cookie), else the browser's preference, else Polish.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("pl", "en")
DEFAULT = "pl"
COOKIE = "ir_console_lang"


SOURCE_LANGUAGE = "en"


@cache
def translations(lang: str) -> NullTranslations:
    if lang == SOURCE_LANGUAGE:
        return NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def language(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT
