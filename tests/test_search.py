"""Search over consultations, proposals and petitions (issue #4, item 7), through the real index on both
databases: the folding of Arabic and French spelling variants, visibility, paging, hostile queries, the page
and its JSON API; and the stable random order of civic.listing (issue #4, item 8)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import i18n, listing
from civic.consultations.models import Consultation
from civic.permissions import ANONYMOUS, Actor
from civic.petitions import lifecycle
from civic.petitions import service as petitions
from civic.petitions.models import Petition
from civic.proposals.models import Proposal
from civic.search import service as search
from civic.search.models import SearchEntry
from civic.search.normalise import index_text, normalise, query_terms
from civic.settings import PetitionRules
from tests.conftest import NOW, make_user

RULES = PetitionRules()
BODY = "نص طويل بما يكفي لشرح الموضوع للمجلس وللمواطنات والمواطنين في الجهة بوضوح."


async def add_consultation(session: AsyncSession, author: Actor, title: str, body: str = BODY, summary: str = "",
                           created_at: datetime = NOW) -> int:
    """A consultation row inserted directly and indexed like its service does (title, summary, body)."""
    async with session.begin():
        row = Consultation(title=title, summary=summary, body=body, scope="region", territory_code="05",
                           addressed_to="council", support_limit=3, created_by=author.user_id,
                           created_at=created_at, updated_at=created_at)
        session.add(row)
        await session.flush()
        await search.index_item(session, "consultation", row.id, title, summary, body)
        return row.id


async def add_proposal(session: AsyncSession, author: Actor, consultation_id: int, title: str, body: str = BODY,
                       status: str = "published", hidden: bool = False) -> int:
    """A proposal row inserted directly and indexed (title, body)."""
    async with session.begin():
        row = Proposal(consultation_id=consultation_id, author_id=author.user_id, title=title, body=body,
                       category="education", territory_code="05", status=status, created_at=NOW, updated_at=NOW,
                       hidden_at=NOW if hidden else None)
        session.add(row)
        await session.flush()
        await search.index_item(session, "proposal", row.id, title, body)
        return row.id


async def found(session: AsyncSession, query: str, kind: str | None = None) -> set[tuple[str, int]]:
    """(kind, id) of every result of ``query`` (all pages)."""
    results = await search.search_all(session, ANONYMOUS, query, kind, 1, NOW, per_page=1000)
    return {(hit.kind, hit.id) for hit in results.page.items}


# --- the normaliser -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "folded"), [
    ("آسفي", "اسفي"),
    ("مَرَّاكُش", "مراكش"),
    ("مدرسة", "مدرسه"),
    ("٢٠٢٥", "2025"),
    ("۲۰۲۵", "2025"),
    ("École", "ecole"),
    ("ÉCOLE élève Ça", "ecole eleve ca"),
    ("مـــدرسة", "مدرسه"),
    ("مستشفى", "مستشفي"),
    ("أ إ آ ا ٱ", "ا ا ا ا ا"),
    ("مؤسسة", "موسسه"),
    ("بِئْر", "بير"),
    ("«مدرسة»، (بني-ملال)!", "مدرسه بني ملال"),
    ("snake_case", "snake case"),
    ("!!! ... ؟؟", ""),
])
def test_normalise_folds_spelling_variants(typed: str, folded: str) -> None:
    assert normalise(typed) == folded


def test_index_text_adds_words_without_the_article_and_query_terms_drop_it() -> None:
    assert index_text("المدرسة الجديدة") == "المدرسه الجديده مدرسه جديده"
    assert "مدرسه" in index_text("والمدرسة").split()
    assert "ال" in index_text("ال").split()  # too short to be an article plus a word
    assert query_terms("المدرسة بني ملال") == ["مدرسه", "بني", "ملال"]
    assert query_terms("* \" : & | ! ( ) '") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(20)))) == 8


# --- through the real index ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "stored"), [
    ("آسفي", "مهرجان اسفي للثقافة"),
    ("مَرَّاكُش", "الطريق بين مراكش وبني ملال"),
    ("مدرسة", "بناء مدرسه جديدة في الدوار"),
    ("٢٠٢٥", "ميزانية 2025 للجهة"),
    ("ecole", "Une École pour le douar"),
    ("مـــدرسة", "بناء مدرسة جديدة"),
    ("مستشفى", "توسيع مستشفي الإقليم"),
    ("مستشفي", "توسيع مستشفى الإقليم"),
    ("أمن", "امن الطرق"),
    ("إصلاح", "اصلاح الطرق"),
    ("آبار", "حفر ابار جديدة"),
    ("امن", "الأمن في الطرق"),
    ("مدرسة", "إصلاح المدرسة الابتدائية"),
    ("المدرسة", "إصلاح مدرسة الدوار"),
    ("مدر", "بناء مدرسة جديدة"),
    ("écol", "Une ecole pour le douar"),
    ("2025", "ميزانية ٢٠٢٥ للجهة"),
])
async def test_variants_are_found_through_the_index(session, query: str, stored: str) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    wanted = await add_consultation(session, author, stored)
    other = await add_consultation(session, author, "موضوع آخر لا علاقة له")
    hits = await found(session, query)
    assert ("consultation", wanted) in hits
    assert ("consultation", other) not in hits


async def test_several_words_must_all_match(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    both = await add_consultation(session, author, "مدرسة في مراكش")
    one = await add_consultation(session, author, "مدرسة في بني ملال")
    assert await found(session, "مدرسة مراكش") == {("consultation", both)}
    assert await found(session, "مدرسة") == {("consultation", both), ("consultation", one)}
    assert await found(session, "مدرسة ورزازات") == set()


async def test_only_visible_proposals_and_public_petitions_are_found(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    consultation = await add_consultation(session, author, "منتدى الجهة للتشاور")
    shown = await add_proposal(session, author, consultation, "خزانة مدرسية للدوار")
    await add_proposal(session, author, consultation, "خزانة مدرسية مخفية", hidden=True)
    await add_proposal(session, author, consultation, "خزانة مدرسية مسحوبة", status="withdrawn")
    answered = await add_proposal(session, author, consultation, "خزانة مدرسية مقبولة", status="accepted")
    title = "خزانة مدرسية في كل جماعة قروية"
    body = "نطلب من مجلس الجهة تجهيز خزانة مدرسية في كل جماعة قروية من جماعات الجهة لفائدة التلاميذ."
    draft = await petitions.create_petition(session, author, petitions.PetitionDraft(title, body, "council"), "05",
                                            NOW)
    public = await petitions.create_petition(session, author, petitions.PetitionDraft(title, body, "council"), "05",
                                             NOW)
    await lifecycle.transition(session, author, public, "collecting", lifecycle.TransitionInput(), RULES, NOW)
    # both petitions are in the index (the service indexes them when they are created) ...
    entries = await session.scalar(select(func.count()).select_from(SearchEntry).where(
        SearchEntry.kind == "petition", SearchEntry.item_id.in_([draft, public])))
    await session.commit()
    assert entries == 2
    # ... but only the published one is found, and no hidden or withdrawn proposal
    assert await found(session, "خزانة") == {("proposal", shown), ("proposal", answered), ("petition", public)}
    assert (await found(session, "مخفية")) == set() and (await found(session, "مسحوبة")) == set()
    results = await search.search_all(session, ANONYMOUS, "خزانة", "proposal", 1, NOW)
    assert results.counts == {"consultation": 0, "proposal": 2, "petition": 1}
    assert {hit.kind for hit in results.page.items} == {"proposal"} and results.page.total == 2
    assert {(hit.consultation_id, hit.consultation_title) for hit in results.page.items} == {
        (consultation, "منتدى الجهة للتشاور")}
    # even staff do not find drafts through search
    staff = await make_user(session, 2, role="council_staff")
    assert ("petition", draft) not in {(h.kind, h.id) for h in (await search.search_all(
        session, staff, "خزانة", None, 1, NOW)).page.items}


async def test_a_petition_withdrawn_as_a_draft_is_not_found(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    body = "نطلب من مجلس الجهة إحداث مسبح جهوي مغطى في مدينة خنيفرة لفائدة الشباب والأطفال."
    pid = await petitions.create_petition(session, author, petitions.PetitionDraft(
        "مسبح جهوي مغطى بخنيفرة", body, "council"), "05", NOW)
    await lifecycle.transition(session, author, pid, "withdrawn", lifecycle.TransitionInput(), RULES, NOW)
    assert await found(session, "مسبح") == set()


async def test_reindexing_after_an_edit_replaces_the_old_text(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await add_consultation(session, author, "تهيئة ساحة عمومية")
    async with session.begin():
        await search.index_item(session, "consultation", cid, "تهيئة حديقة عمومية", "", BODY)
    assert await found(session, "حديقة") == {("consultation", cid)}
    assert await found(session, "ساحة") == set()
    count = await session.scalar(select(func.count()).select_from(SearchEntry).where(SearchEntry.item_id == cid))
    await session.commit()
    assert count == 1
    async with session.begin():
        await search.remove_item(session, "consultation", cid)
    assert await found(session, "حديقة") == set()


HOSTILE = ['"', "*", "AND", "NEAR(", "'", ":", "&", "|", "!", '"مدرسة', "مدرسة*", "مدرسة AND", "NEAR(مدرسة, 2)",
           "مدرسة' OR '1'='1", "مدرسة:*", "مدرسة & !مدرسة", "مدرسة | x", "!مدرسة", "(مدرسة", "مدرسة)", "-مدرسة",
           "^مدرسة", "مدرسة;DROP TABLE search_entries;--", "\\", "%", "_", "مدرسة\x00", "{مدرسة}", "NOT مدرسة",
           "OR", "col:مدرسة", "body:مدرسة"]


@pytest.mark.parametrize("query", HOSTILE)
async def test_query_syntax_never_raises(session, query: str) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    school = await add_consultation(session, author, "بناء مدرسة جديدة")
    results = await search.search_all(session, ANONYMOUS, query, None, 1, NOW)
    terms = query_terms(search.clean_query(query))
    if not terms:
        assert results.message == search.NO_WORDS and results.page.items == []
    else:
        assert results.message is None
        hits = {(hit.kind, hit.id) for hit in results.page.items}
        # a query whose only word is مدرسة is a normal search for it, whatever punctuation surrounds it
        assert (("consultation", school) in hits) == (set(terms) == {"مدرسه"})


async def test_empty_long_and_wordless_queries(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    await add_consultation(session, author, "بناء مدرسة جديدة")
    empty = await search.search_all(session, ANONYMOUS, "   ", None, 1, NOW)
    assert (empty.query, empty.message, empty.searched, empty.page.items) == ("", None, False, [])
    wordless = await search.search_all(session, ANONYMOUS, "?!... ***", None, 1, NOW)
    assert wordless.message == search.NO_WORDS and not wordless.searched
    long = await search.search_all(session, ANONYMOUS, "مدرسة " + "ب" * 294, None, 1, NOW)
    assert len(long.query) == search.QUERY_MAX == 200
    assert long.searched and long.page.items == []  # the long word does not match


async def test_pages_of_ten_newest_first_with_excerpts(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    ids = [await add_consultation(session, author, f"مدرسة رقم {i}", body="كلمة " * 100,
                                  created_at=NOW - timedelta(days=i % 5)) for i in range(25)]
    seen: list[int] = []
    for number in (1, 2, 3):
        results = await search.search_all(session, ANONYMOUS, "مدرسة", "consultation", number, NOW)
        assert results.page.number == number and results.page.pages == 3 and results.page.total == 25
        assert len(results.page.items) == (10 if number < 3 else 5)
        seen += [hit.id for hit in results.page.items]
        for hit in results.page.items:
            assert len(hit.excerpt) <= search.EXCERPT_MAX + 1 and hit.excerpt.endswith("…")
    assert sorted(seen) == sorted(ids)  # each exactly once
    dates = {cid: NOW - timedelta(days=i % 5) for i, cid in enumerate(ids)}
    assert seen == sorted(ids, key=lambda cid: (-dates[cid].timestamp(), -cid))
    beyond = await search.search_all(session, ANONYMOUS, "مدرسة", None, 99, NOW)
    assert beyond.page.number == 3 and [h.id for h in beyond.page.items] == seen[20:]


async def test_kinds_come_in_order_consultations_proposals_petitions(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    body = "نطلب من مجلس الجهة بناء ملعب قرب لكرة القدم في كل جماعة قروية من جماعات إقليم أزيلال."
    pid = await petitions.create_petition(session, author, petitions.PetitionDraft("ملعب قرب في كل جماعة", body,
                                                                                  "council"), "05", NOW)
    await lifecycle.transition(session, author, pid, "collecting", lifecycle.TransitionInput(), RULES, NOW)
    cid = await add_consultation(session, author, "ملعب القرب للشباب", created_at=NOW - timedelta(days=30))
    prop = await add_proposal(session, author, cid, "ملعب قرب في أزيلال")
    results = await search.search_all(session, ANONYMOUS, "ملعب", None, 1, NOW)
    assert [(h.kind, h.id) for h in results.page.items] == [("consultation", cid), ("proposal", prop),
                                                            ("petition", pid)]
    assert results.total == 3 and results.counts == {"consultation": 1, "proposal": 1, "petition": 1}


# --- the page and the API -----------------------------------------------------------------------------------


def arabic(msgid: str) -> str:
    """``msgid`` as the page shows it in Arabic, the default language (the msgid itself until translated)."""
    return str(escape(i18n.translations("ar").gettext(msgid)))


def status_of(html: str) -> str:
    """The text of the page's role="status" element."""
    match = re.search(r'<p role="status"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no role=status element"
    return match.group(1)


async def test_search_page_without_a_query_shows_the_form(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/search")
    assert response.status_code == 200
    html = response.text
    assert '<label for="q">' in html and 'id="q" name="q" type="search"' in html
    assert arabic("Type one or more words to search consultations, proposals and petitions.") in status_of(html)
    assert 'class="card-list search-results"' not in html
    assert html.count("<h1") == 1
    assert 'id="site-search-q"' not in html  # the header's box is left out on the search page itself
    home = await client.get("/")
    assert re.search(r'<form method="get" action="/search" class="wrap site-search" role="search"', home.text)
    assert '<label for="site-search-q">' in home.text


async def test_search_page_lists_results_with_links_counts_and_a_filter(session, client) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await add_consultation(session, author, "منتدى مدرسة الجهة", summary="ملخص قصير عن المدرسة")
    prop = await add_proposal(session, author, cid, "مدرسة جماعاتية في أزيلال")
    hidden = await add_proposal(session, author, cid, "مدرسة مخفية", hidden=True)
    response = await client.get("/search", params={"q": "المدرسة"})
    assert response.status_code == 200
    html = response.text
    status = status_of(html)
    assert '<bdi lang="ar" dir="rtl">المدرسة</bdi>' in status and re.search(r"\b2\b", status)
    assert f'href="/consultations/{cid}"' in html and f'href="/proposals/{prop}"' in html
    assert f'href="/proposals/{hidden}"' not in html and "مخفية" not in html
    assert "ملخص قصير عن المدرسة" in html  # a consultation's excerpt is its summary
    filter_link = r'<a href="/search\?q=[^"]*?(?:&amp;kind=(\w+))?"[^>]*>[^<]*\(<bdi>(\d+)</bdi>\)</a>'
    counts = dict(re.findall(filter_link, html))
    assert counts == {"": "2", "consultation": "1", "proposal": "1", "petition": "0"}
    assert 'lang="ar" dir="rtl"' in html
    only = await client.get("/search", params={"q": "مدرسة", "kind": "proposal"})
    assert f'href="/proposals/{prop}"' in only.text and f'href="/consultations/{cid}"">' not in only.text
    assert not re.search(rf'<h2 class="card-title"><a href="/consultations/{cid}"', only.text)
    assert re.search(r'<a href="[^"]*kind=proposal" aria-current="page">', only.text)
    assert '<option value="proposal" selected>' in only.text


async def test_page_links_keep_the_query_and_the_kind(session, client) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    for i in range(12):
        await add_consultation(session, author, f"ساحة عمومية {i}")
    first = await client.get("/search", params={"q": "ساحة", "kind": "consultation"})
    match = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert match and 'rel="prev"' not in first.text
    query = parse_qs(urlsplit(match.group(1).replace("&amp;", "&")).query)
    assert query == {"q": ["ساحة"], "kind": ["consultation"], "page": ["2"]}
    second = await client.get(match.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and second.text.count('class="card-title"') == 2
    back = re.search(r'<a href="([^"]+)" rel="prev">', second.text)
    assert back and parse_qs(urlsplit(back.group(1).replace("&amp;", "&")).query) == {
        "q": ["ساحة"], "kind": ["consultation"]}


async def test_search_page_answers_hostile_and_wordless_queries(client) -> None:  # type: ignore[no-untyped-def]
    for q in ['"', "NEAR(", "!!!", "x" * 300, "مدرسة' OR 1=1 --", "\x00"]:
        response = await client.get("/search", params={"q": q, "kind": "nonsense", "page": "-4"})
        assert response.status_code == 200, q
        assert status_of(response.text).strip()
    wordless = await client.get("/search", params={"q": "?!"})
    assert arabic(search.NO_WORDS) in status_of(wordless.text)


async def test_api_search(session, client) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    cid = await add_consultation(session, author, "منتدى الماء")
    prop = await add_proposal(session, author, cid, "سقاية الماء الصالح للشرب", body="ماء " * 200)
    data = (await client.get("/api/v1/search", params={"q": "ماء"})).json()
    assert data["total"] == 2 and data["counts"] == {"consultation": 1, "proposal": 1, "petition": 0}
    assert [(r["kind"], r["id"], r["url"]) for r in data["results"]] == [
        ("consultation", cid, f"/consultations/{cid}"), ("proposal", prop, f"/proposals/{prop}")]
    proposal = data["results"][1]
    assert proposal["consultation"] == {"id": cid, "title": "منتدى الماء", "url": f"/consultations/{cid}"}
    assert len(proposal["excerpt"]) <= 201 and "author" not in str(data) and "User 1" not in str(data)
    filtered = (await client.get("/api/v1/search", params={"q": "ماء", "kind": "consultation"})).json()
    assert [r["id"] for r in filtered["results"]] == [cid] and filtered["kind"] == "consultation"
    wordless = (await client.get("/api/v1/search", params={"q": "&|!"})).json()
    assert wordless["results"] == [] and wordless["message"]


# --- civic.listing: the stable random order -----------------------------------------------------------------


async def _random_pages(session: AsyncSession, seed: int, ids: list[int]) -> list[int]:
    order = []
    for number in range(1, 11):
        page = listing.Page([], number, 10, len(ids))
        rows = await session.scalars(
            select(Consultation.id).where(Consultation.id.in_(ids))
            .order_by(listing.random_key(Consultation.id, seed), Consultation.id)
            .limit(page.per_page).offset(page.offset))
        order += list(rows)
    await session.commit()
    return order


async def test_random_order_pages_yield_each_item_once(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    async with session.begin():
        rows = [Consultation(title=f"c{i}", summary="", body="b", scope="region", territory_code="05",
                             addressed_to="council", support_limit=3, created_by=author.user_id, created_at=NOW,
                             updated_at=NOW) for i in range(95)]
        session.add_all(rows)
        await session.flush()
        ids = [row.id for row in rows]
    seed = listing.seed_from(None)
    order = await _random_pages(session, seed, ids)
    assert len(order) == 95 and sorted(order) == sorted(ids)  # each exactly once across 10 pages
    assert order != sorted(ids)
    assert await _random_pages(session, seed, ids) == order  # the same seed, the same order
    other = await _random_pages(session, (seed + 1) % listing.PRIME, ids)
    assert other != order  # even the next seed gives another order, and not a rotation of this one
    rotations = [order[i:] + order[:i] for i in range(len(order))]
    assert other not in rotations
    assert sorted(await _random_pages(session, other, ids)) == sorted(ids)
    assert listing.seed_from(seed) == seed and listing.seed_from("x") != "x" and listing.seed_from(-1) >= 0
    big = await _random_pages(session, listing.PRIME - 1, ids)  # the largest seed: no overflow on PostgreSQL
    assert sorted(big) == sorted(ids)


async def test_petition_text_is_indexed_when_created(session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    body = "Nous demandons au conseil régional d'équiper chaque école rurale d'une bibliothèque scolaire."
    pid = await petitions.create_petition(session, author, petitions.PetitionDraft(
        "Bibliothèques pour les écoles rurales", body, "council"), "05", NOW)
    entry = await session.scalar(select(SearchEntry.body).where(SearchEntry.kind == "petition",
                                                                SearchEntry.item_id == pid))
    title = await session.scalar(select(Petition.title).where(Petition.id == pid))
    await session.commit()
    assert entry == index_text(title or "", body)
    assert "ecoles" in (entry or "").split() and "bibliotheque" in (entry or "").split()
