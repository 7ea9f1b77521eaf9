"""Display preferences: larger text, high contrast, reduced motion, Arabic-Indic digits (issue #7).

Kept in a cookie (``civic_prefs``, e.g. ``text-large.contrast-high.motion-reduce.digits-arab``: characters
that need no quoting in a cookie) so they work
signed out, and on the user's account when signed in (restored into the cookie at sign-in). The current
request's preferences live in a context variable that the language middleware sets.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, replace

COOKIE = "civic_prefs"
CHOICES = {"text": ("normal", "large"), "contrast": ("normal", "high"), "motion": ("normal", "reduce"),
           "digits": ("latn", "arab")}


@dataclass(frozen=True)
class Preferences:
    """text: ``normal`` | ``large``; contrast: ``normal`` | ``high``; motion: ``normal`` | ``reduce``;
    digits: ``latn`` (Western, Morocco's usual) | ``arab`` (Arabic-Indic ٠١٢٣)."""

    text: str = "normal"
    contrast: str = "normal"
    motion: str = "normal"
    digits: str = "latn"

    def encode(self) -> str:
        """The cookie value: only the settings that differ from the default, ``key-value`` joined by dots."""
        default = Preferences()
        return ".".join(f"{k}-{getattr(self, k)}" for k in CHOICES if getattr(self, k) != getattr(default, k))

    @property
    def css_classes(self) -> str:
        """Classes for the ``<html>`` element (``text-large contrast-high motion-reduce``)."""
        return " ".join(f"{k}-{getattr(self, k)}" for k in ("text", "contrast", "motion")
                        if getattr(self, k) != "normal")


def decode(raw: str | None) -> Preferences:
    """Parse a cookie value; unknown keys and values are ignored (never an error)."""
    prefs = Preferences()
    for part in (raw or "")[:200].strip('"').split("."):
        key, _, value = part.partition("-")
        if key in CHOICES and value in CHOICES[key]:
            prefs = replace(prefs, **{key: value})
    return prefs


def from_form(values: dict[str, str]) -> Preferences:
    """Preferences from a submitted form (checkbox values ``y``)."""
    return Preferences(
        text="large" if values.get("text_large") else "normal",
        contrast="high" if values.get("contrast_high") else "normal",
        motion="reduce" if values.get("motion_reduce") else "normal",
        digits="arab" if values.get("digits_arab") else "latn",
    )


_current = contextvars.ContextVar("civic_preferences", default=Preferences())  # noqa: B039 - frozen, immutable


def set_current(prefs: Preferences) -> contextvars.Token[Preferences]:
    """Make ``prefs`` the current request's preferences."""
    return _current.set(prefs)


def reset(token: contextvars.Token[Preferences]) -> None:
    """Restore the preferences before ``set_current``."""
    _current.reset(token)


def current() -> Preferences:
    """The current request's preferences."""
    return _current.get()


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def digits(text: str) -> str:
    """``text`` with Western digits turned into Arabic-Indic ones when the user prefers them
    (toolchain.md: Babel's ar_MA gives Western digits)."""
    return text.translate(ARABIC_INDIC) if current().digits == "arab" else text
