"""Rendering console pages: one Jinja environment per language, autoescaped, with the headers
every page gets (no framing, scripts and styles from the console itself only, never cached:
pages show seller data)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from workers.console import i18n, session

TEMPLATES = Path(__file__).parent / "templates"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make Chromium send `Origin: null`
    "Cache-Control": "no-store",
}


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = i18n.language(request)
    signed = session.current(request)
    html = (
        environment(lang)
        .get_template(template)
        .render(
            request=request,
            lang=lang,
            languages=i18n.LANGUAGES,
            session=signed,
            csrf=signed.csrf if signed else "",
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def see_other(url: str) -> RedirectResponse:
    """After a successful form: the browser GETs the result (a reload does not re-submit)."""
    return RedirectResponse(url, status_code=303, headers=HEADERS)
