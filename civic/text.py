"""Cleaning text that people type, before it is validated or stored.

Removed: NUL and other control characters (PostgreSQL refuses NUL in text; the others are invisible), the
Unicode bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) that can spoof the direction
of a title or a name, and the invisible characters that can make two names look alike or hide text inside a
word (issue #6, item 4): zero width space U+200B, word joiner U+2060, zero width no-break space / byte-order
mark U+FEFF and Mongolian vowel separator U+180E (no script of this region's languages needs them).
Kept: tab, new line; the zero width non-joiner and joiner U+200C/U+200D, which Persian, Urdu, Kurdish and
emoji sequences need to be spelled correctly (removing them changes words); and the direction marks
LRM/RLM/ALM (U+200E, U+200F, U+061C) that mixed Arabic and Latin text legitimately needs — a mark only
nudges neutral characters around it, it cannot reverse a run the way an override does.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u180e\u200b\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def clean_text(value: str | None) -> str:
    """``value`` without unsafe characters; line endings normalised to ``\\n``; None becomes ''."""
    if not value:
        return ""
    return _UNSAFE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
