"""Jinja2 environment: autoescaping, Babel's gettext for the request's language, formatting filters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from civic import i18n, preferences
from civic.markup import render_markdown
from civic.petitions.lifecycle import STATUS_LABELS
from civic.settings import ROOT

TEMPLATES_DIR = ROOT / "templates"


def make_templates(directory: Path = TEMPLATES_DIR) -> Jinja2Templates:
    """Templates with the i18n extension bound to the request's language, and Civic's filters and globals."""
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["number"] = i18n.format_number
    env.filters["datetime"] = i18n.format_datetime
    env.filters["date"] = i18n.format_date
    env.filters["share"] = i18n.format_share
    env.globals["url_for"] = _url_for
    env.globals["languages"] = i18n.LANGUAGES
    env.globals["current_language"] = i18n.current_language
    env.globals["current_preferences"] = preferences.current
    env.globals["status_labels"] = STATUS_LABELS
    env.filters["lang_attrs"] = lang_attrs
    env.filters["markdown"] = render_markdown  # user bodies: Markdown sanitised with nh3 (civic.markup)
    return Jinja2Templates(env=env)


def route_path(app: Any, name: str, params: dict[str, Any]) -> str:
    """The path of the named route with ``params``, cached per app: Starlette looks a name up by trying every
    route in turn (about 200 here), and a page asks for some 20–30 paths (issue #8: about 2.5 ms of CPU a page).
    Raises starlette.routing.NoMatchFound like ``app.url_path_for``."""
    cache: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = app.state.__dict__.setdefault("_civic_paths", {})
    try:
        key = (name, tuple(sorted(params.items())))
        hash(key)
    except TypeError:  # an unhashable parameter value: no cache
        return str(app.url_path_for(name, **params))
    path = cache.get(key)
    if path is None:
        if len(cache) > _PATHS_CACHED:
            cache.clear()
        path = cache[key] = str(app.url_path_for(name, **params))
    return path


_PATHS_CACHED = 8192


@pass_context
def _url_for(context: Any, name: str, /, **params: Any) -> str:
    """Templates' ``url_for``: a site-relative URL (no scheme or host, so nothing breaks behind a TLS proxy)."""
    request: Request = context["request"]
    return str(request.scope.get("root_path", "")) + route_path(request.app, name, params)


_STRONG = re.compile("[A-Za-z\u00c0-\u024f\u0600-\u06ff\u2d30-\u2d7f]")


def lang_attrs(text: str | None) -> Markup:
    """``lang`` and ``dir`` attributes for user text, guessed from its first letter (Arabic, Tifinagh or
    Latin taken as French), so screen readers use the right voice (WCAG 3.1.2 language of parts)."""
    match = _STRONG.search(text or "")
    if match is None:
        return Markup(' dir="auto"')
    letter = match.group(0)
    if "\u0600" <= letter <= "\u06ff":
        return Markup(' lang="ar" dir="rtl"')
    if "\u2d30" <= letter <= "\u2d7f":
        return Markup(' lang="zgh" dir="ltr"')
    return Markup(' lang="fr" dir="ltr"')


def place_name(place: Any) -> str:
    """A territory's name in the current language (Arabic or French; Tamazight falls back to French)."""
    return str(place.name_ar if i18n.current_language().code == "ar" else place.name_fr)  # no Tifinagh names


def context(request: Request, **values: Any) -> dict[str, Any]:
    """The base template context: the actor, the CSRF token and the current path for the language switch."""
    return {"actor": request.state.actor, "csrf_token": request.state.csrf_token, "path": request.url.path,
            "place_name": place_name, **values}
