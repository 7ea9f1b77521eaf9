"""The little formatting user text may carry: Markdown rendered, then sanitised (issue #6, item 4).

User text is stored as typed and escaped on output. Bodies (proposals, comments, petitions) may use a small
part of Markdown — paragraphs, line breaks, lists, emphasis, quotes, inline code and links — rendered with
markdown-it-py (CommonMark, raw HTML off) and then cleaned by nh3 (the ammonia sanitiser) with an allow-list:
whatever the renderer produced, only these tags and ``href`` on links survive, links may only point to
http, https or mailto addresses (no relative or ``javascript:`` URL), and every link gets
``rel="nofollow ugc noopener"`` (spam gains nothing, the opened page cannot reach back to ours).
Titles and names are plain text, escaped by Jinja: never Markdown.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset({"p", "br", "ul", "ol", "li", "strong", "em", "a", "blockquote", "code"})
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href"}, "*": set()}  # "*": no generic ones (title, lang)
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"
MAX_INPUT = 20_000  # characters rendered at most; longer text is cut (bodies are limited far below this)

# Block rules that would make tags outside the allow-list (headings, images, rules, pre blocks, raw HTML) are
# switched off, so such text is shown as typed instead of losing its markers: "# 1" stays "# 1".
_DISABLED = ["heading", "lheading", "hr", "code", "fence", "html_block", "image", "html_inline"]

_renderer = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False}).disable(_DISABLED)
_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)


def render_markdown(text: str | None) -> Markup:
    """``text`` (Markdown as typed) as safe HTML for a template: rendered, then sanitised with nh3.

    None or '' gives an empty Markup. The result holds only ALLOWED_TAGS, ``href`` on links with an http,
    https or mailto URL, and ``rel="nofollow ugc noopener"`` on every link (issue #6, item 4).
    """
    if not text:
        return Markup("")
    html = _renderer.render(text[:MAX_INPUT])
    return Markup(_cleaner.clean(html).strip())  # noqa: S704 - nh3 has just sanitised it
