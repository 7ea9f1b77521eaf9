"""Folding Arabic and French spelling variants, so a search finds text however it was typed (issue #4, item 7).

Folded: Arabic diacritics (tashkeel, U+064B–U+065F, U+0670) and tatweel (U+0640); hamza carriers and madda
(أ إ آ ٱ → ا, ؤ → و, ئ → ي); alef maqsura ى → ي; ta marbuta ة → ه; Arabic-Indic (٠–٩) and Persian (۰–۹) digits →
0–9; Latin accents (É → e) and case. Anything that is not a letter or digit separates words. Words starting
with the article ال (or وال, بال, فال, كال, لل) are also indexed without it, so مدرسة finds المدرسة.
"""

from __future__ import annotations

import re
import unicodedata

_TABLE = str.maketrans({
    "\u0640": None,  # tatweel
    "\u0671": "\u0627",  # alef wasla
    "\u0649": "\u064a",  # alef maqsura → ya
    "\u0629": "\u0647",  # ta marbuta → ha
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
})
_WORD = re.compile(r"\w+")
_ARTICLES = ("وال", "بال", "فال", "كال", "لل", "ال")


def normalise(text: str) -> str:
    """``text`` folded as described above, words separated by one space (may be '')."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TABLE))
    # NFKD splits أ into ا + hamza above (a combining mark), é into e + acute: dropping marks folds both.
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_TABLE).casefold()
    return " ".join(_WORD.findall(kept.replace("_", " ")))


def _without_article(word: str) -> str | None:
    for article in _ARTICLES:
        if word.startswith(article) and len(word) - len(article) >= 2:
            return word[len(article):]
    return None


def index_text(*parts: str) -> str:
    """The text stored in the search index for an item made of ``parts``: normalised words, plus each
    Arabic word without its article."""
    words = normalise(" ".join(parts)).split()
    extra = [stripped for word in words if (stripped := _without_article(word))]
    return " ".join(words + extra)


def query_terms(query: str, max_terms: int = 8) -> list[str]:
    """The words of a search query, normalised and without article, at most ``max_terms`` (longer are cut)."""
    terms: list[str] = []
    for word in normalise(query).split()[:max_terms]:
        terms.append(_without_article(word) or word)
    return terms
