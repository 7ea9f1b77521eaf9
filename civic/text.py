"""Cleaning text that people type, before it is validated or stored.

Removed: NUL and other control characters (PostgreSQL refuses NUL in text; the others are invisible), the
Unicode bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) that can spoof the direction
of a title or a name, and the byte-order mark. Kept: tab, new line, and the direction marks LRM/RLM/ALM that
mixed Arabic and Latin text legitimately needs.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_text(value: str | None) -> str:
    """``value`` without unsafe characters; line endings normalised to ``\\n``; None becomes ''."""
    if not value:
        return ""
    return _UNSAFE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
