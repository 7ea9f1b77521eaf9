"""User content safety (issue #6, item 4): Markdown rendered and sanitised with nh3, invisible and
direction-spoofing characters removed from titles, formulas neutralised in CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup
from openpyxl import load_workbook
from sqlalchemy import select

from civic.exports.service import csv_line, csv_stream
from civic.markup import ALLOWED_TAGS, LINK_REL, render_markdown
from civic.petitions import service as petitions
from civic.petitions.models import Petition
from civic.text import clean_text
from civic.web.templating import make_templates
from tests.conftest import NOW, make_user
from tests.test_petitions_service import BODY, open_petition


class _Tags(HTMLParser):
    """Collects every start tag and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_script_is_escaped_not_run() -> None:
    html = render_markdown("Bonjour <script>alert(1)</script> **tout le monde**")
    assert isinstance(html, Markup)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<strong>tout le monde</strong>" in html


def test_javascript_and_other_dangerous_links_are_not_links() -> None:
    for text in ("[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](data:text/html;base64,PHNjcmlwdD4=)",
                 "[x](vbscript:msgbox(1))", "<javascript:alert(1)>", '<a href="javascript:alert(1)">x</a>'):
        html = render_markdown(text)
        assert not any(tag == "a" and attrs.get("href") for tag, attrs in tags_of(html)), text
        assert '<a href="javascript' not in html.lower(), text


def test_images_and_event_handlers_are_gone() -> None:
    for text in ("<img src=x onerror=alert(1)>", "![chat](https://example.ma/chat.png)",
                 '<p onclick="alert(1)">x</p>', "<iframe src=https://example.ma></iframe>", "<style>*{}</style>"):
        html = render_markdown(text)
        assert all(tag in ALLOWED_TAGS for tag, _ in tags_of(html)), (text, html)
        assert not any(name.startswith("on") for _, attrs in tags_of(html) for name in attrs), (text, html)
        assert "<img" not in html and "<iframe" not in html and "<style" not in html


def test_links_get_rel_and_only_safe_schemes() -> None:
    html = render_markdown('Voir [le site](https://example.ma "titre"), [écrire](mailto:contact@example.ma) '
                           "et [local](/petitions/1).")
    links = [attrs for tag, attrs in tags_of(html) if tag == "a"]
    assert [a.get("href") for a in links] == ["https://example.ma", "mailto:contact@example.ma", None]
    assert all(a.get("rel") == LINK_REL == "nofollow ugc noopener" for a in links)
    assert all(set(a) <= {"href", "rel"} for a in links)  # no title, no target, no style


def test_the_little_formatting_allowed() -> None:
    html = render_markdown("Première ligne\nseconde ligne\n\n- un\n- deux\n\n1. a\n2. b\n\n> citation *douce* `code`")
    assert "<br>" in html and "<ul>" in html and "<ol>" in html and "<blockquote>" in html
    assert "<em>douce</em>" in html and "<code>code</code>" in html
    assert str(render_markdown("# Pas un titre")) == "<p># Pas un titre</p>"  # headings are shown as typed
    assert render_markdown("") == Markup("") and render_markdown(None) == Markup("")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*"<>\"'=&/:;()[]!*_`#-\n abcé1", "javascript:", "https://x.ma", "<script>",
                                  "<img ", " onerror=", "](", "<a href=", "\u202e"]), max_size=60).map("".join))
def test_any_input_gives_only_allowed_tags_and_attributes(text: str) -> None:
    for tag, attrs in tags_of(render_markdown(text)):
        assert tag in ALLOWED_TAGS
        assert set(attrs) <= ({"href", "rel"} if tag == "a" else set())
        href = attrs.get("href")
        assert href is None or href.startswith(("http://", "https://", "mailto:"))


def test_markdown_is_a_template_filter_and_titles_stay_plain() -> None:
    env = make_templates().env
    out = env.from_string("<h1>{{ title }}</h1>{{ body | markdown }}").render(
        title="**<b>titre</b>**", body="[x](https://example.ma) <b>gras</b>")
    assert out.startswith("<h1>**&lt;b&gt;titre&lt;/b&gt;**</h1>")  # a title is text, escaped, not Markdown
    assert '<a href="https://example.ma" rel="nofollow ugc noopener">x</a>' in out
    assert "<b>" not in out


def test_clean_text_removes_spoofing_and_invisible_characters_but_keeps_joiners() -> None:
    assert clean_text("Pétition\u202e txet desrever\u202c") == "Pétition txet desrever"
    assert clean_text("a\u202ab\u202bc\u202dd\u2066e\u2067f\u2068g\u2069h") == "abcdefgh"
    assert clean_text("ad\u200bmin\u2060is\ufefftra\u180eteur") == "administrateur"
    # ZWNJ/ZWJ spell words in Persian, Urdu, Kurdish and emoji; LRM/RLM/ALM order mixed Arabic and Latin text
    kept = "می\u200cخواهم \U0001f468\u200d\U0001f469 \u200eCivic\u200f \u061c٣"
    assert clean_text(kept) == kept


async def test_a_title_with_u202e_is_cleaned_when_stored(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await petitions.create_petition(session, author, petitions.PetitionDraft(
        "Des bus \u202eeid\u202c pour tous\u200b", BODY, "council"), "05", NOW)
    title = await session.scalar(select(Petition.title).where(Petition.id == pid))
    await session.commit()
    assert title == "Des bus eid pour tous"
    assert "\u202e" not in title and "\u200b" not in title


async def test_script_in_a_title_is_escaped_on_the_page(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await petitions.create_petition(session, author, petitions.PetitionDraft(
        "<script>alert(1)</script> titre", BODY, "council"), "05", NOW)
    await session.commit()
    from civic.petitions import lifecycle
    from civic.settings import PetitionRules
    await lifecycle.transition(session, author, pid, "collecting", lifecycle.TransitionInput(), PetitionRules(), NOW)
    page = await client.get(f"/petitions/{pid}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_formula_titles_are_neutralised_in_xlsx_and_csv(client, session) -> None:  # type: ignore[no-untyped-def]
    formula = '=HYPERLINK("http://x")'
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    await session.execute(Petition.__table__.update().where(Petition.id == pid).values(title=formula))
    await session.commit()
    stored = await session.scalar(select(Petition.title).where(Petition.id == pid))
    await session.commit()
    assert stored == formula  # stored as typed; neutralised only where it could run: in spreadsheets
    # XLSX: the public dossier's facts sheet
    r = await client.get(f"/petitions/{pid}/dossier.xlsx")
    assert r.status_code == 200
    values = [c.value for ws in load_workbook(io.BytesIO(r.content)).worksheets for row in ws.iter_rows()
              for c in row if isinstance(c.value, str)]
    assert "'" + formula in values and formula not in values
    assert not any(isinstance(v, str) and v.startswith(("=", "+", "-", "@")) for v in values)
    # CSV: the export helpers every CSV goes through
    chunks = [c async for c in csv_stream(["title"], [[stored], ["+1"], ["@SUM(A1)"], ["-2"]])]
    text = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["title"], ["'" + formula], ["'+1"], ["'@SUM(A1)"], ["'-2"]]
    assert csv_line([formula]).startswith("\"'=HYPERLINK(")
