"""Languages, message catalogues, and locale-aware formatting (shared/domain.md §5).

Catalogues are the ``.po`` files under ``civic/i18n/locales``; they are compiled in memory at start-up
(``babel.messages.mofile.write_mo``), so no generated ``.mo`` file is needed. The language of a request lives
in a context variable that the locale middleware sets.
"""

from __future__ import annotations

import contextvars
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from civic import preferences

LOCALES_DIR = Path(__file__).parent / "locales"
TIMEZONE = ZoneInfo("Africa/Casablanca")


@dataclass(frozen=True)
class Language:
    """A supported interface language. babel_locale formats dates and numbers; direction is ``rtl`` or ``ltr``."""

    code: str
    name: str
    babel_locale: str
    direction: str


LANGUAGES: dict[str, Language] = {
    "ar": Language("ar", "العربية", "ar_MA", "rtl"),
    "fr": Language("fr", "Français", "fr_MA", "ltr"),
    "zgh": Language("zgh", "ⵜⴰⵎⴰⵣⵉⵖⵜ", "zgh", "ltr"),  # Tifinagh is written left to right (domain.md §5)
}
DEFAULT_LANGUAGE = "ar"

_current = contextvars.ContextVar("civic_language", default=DEFAULT_LANGUAGE)


def set_language(code: str) -> contextvars.Token[str]:
    """Make ``code`` the language of the current request; unknown codes fall back to Arabic."""
    return _current.set(code if code in LANGUAGES else DEFAULT_LANGUAGE)


def current_language() -> Language:
    """The language of the current request."""
    return LANGUAGES[_current.get()]


@cache
def translations(code: str) -> NullTranslations:
    """The compiled catalogue for a language code; NullTranslations when there is no catalogue."""
    po_path = LOCALES_DIR / code / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=code)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def gettext(message: str) -> str:
    """Translate ``message`` into the current language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with plural forms (Arabic has six) into the current language."""
    return translations(_current.get()).ngettext(singular, plural, n)


def end_of_local_day(moment: datetime) -> datetime:
    """23:59:59 Africa/Casablanca on the local day of ``moment``, in UTC. Deadlines close at the end of a
    local day whatever the offset that day (UTC+1, or UTC+0 around Ramadan; domain.md §4–§5)."""
    local_day = moment.astimezone(TIMEZONE).date()
    return datetime.combine(local_day, time(23, 59, 59), tzinfo=TIMEZONE).astimezone(UTC)


def format_number(value: int | float) -> str:
    """A number in the current locale (Western digits in ar_MA and fr_MA; Arabic-Indic when preferred)."""
    return preferences.digits(format_decimal(value, locale=current_language().babel_locale))


def format_share(value: float) -> str:
    """A share 0..1 as a percentage in the current locale."""
    return preferences.digits(format_percent(value, locale=current_language().babel_locale))


def format_datetime(value: datetime | None, style: str = "medium") -> str:
    """A UTC datetime shown in Africa/Casablanca local time, in the current language (domain.md §4)."""
    if value is None:
        return ""
    return preferences.digits(babel_format_datetime(value.astimezone(TIMEZONE), style, tzinfo=TIMEZONE,
                                                    locale=current_language().babel_locale))


def format_date(value: datetime | None) -> str:
    """The local (Africa/Casablanca) date of a UTC datetime, in the current language."""
    if value is None:
        return ""
    return preferences.digits(babel_format_datetime(value.astimezone(TIMEZONE), "d MMMM y", tzinfo=TIMEZONE,
                                                    locale=current_language().babel_locale))


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now (gettext_noop)."""
    return message
