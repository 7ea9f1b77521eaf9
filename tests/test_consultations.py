"""Consultations, phases and documents (issue #4, items 1, 4 and 8): staff forms and their validation, phases
that never overlap, the role × phase grid of consultations:manage, PDF uploads and downloads, the public list
(status derived from phases, filters, search, stable random pages) and the JSON API. Real databases only."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from civic import i18n, listing
from civic.accounts import service as accounts
from civic.app import create_app
from civic.audit import AuditEvent
from civic.consultations import documents, service
from civic.consultations.models import Consultation, ConsultationDocument, Phase
from civic.consultations.service import ConsultationFilters, ConsultationInput, PhaseInput
from civic.db import utcnow
from civic.errors import Forbidden, Invalid, NotFound, NotSignedIn
from civic.permissions import Actor
from civic.search import service as search
from tests.conftest import NOW, csrf_from, make_user

PASSWORD = "a long password for tests"
TITLE = "استشارة حول النقل المدرسي في الجماعات القروية"
BODY = ("يرغب مجلس الجهة في معرفة آراء الساكنة حول النقل المدرسي في الجماعات القروية، "
        "وفي تلقي مقترحات عملية قبل إعداد البرنامج المقبل.")
GOOD = ConsultationInput(title=TITLE, summary="ملخص قصير للاستشارة.", body=BODY, easy_read="", scope="region",
                         territory_code="", addressed_to="council", support_limit="3")
# A small but complete PDF (one empty page), as a PDF writer would produce it.
PDF = (b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
       b"2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n"
       b"3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 300 144]>> endobj\n"
       b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n0000000115 00000 n \n"
       b"trailer <</Size 4 /Root 1 0 R>>\nstartxref\n188\n%%EOF\n")


def ar(msgid: str) -> str:
    """``msgid`` as the pages show it in Arabic, the default language, from the catalogue."""
    return i18n.translations("ar").gettext(msgid)


def local(moment: datetime) -> str:
    return service.local_input_value(moment)


def phase(kind: str, start: int, end: int, base: datetime = NOW) -> PhaseInput:
    """A phase of ``kind`` with its usual flags, from ``base + start`` days to ``base + end`` days."""
    return PhaseInput.defaults(kind, local(base + timedelta(days=start)), local(base + timedelta(days=end)))


async def create(session, staff: Actor, **over: str) -> int:  # type: ignore[no-untyped-def]
    return await service.create_consultation(session, staff, dataclasses.replace(GOOD, **over), "05", NOW)


async def audit_actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    await session.commit()
    return actions


class Bytes:
    """An uploaded file read in chunks (what UploadFile offers)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset, self.reads = data, 0, 0

    async def read(self, size: int = -1) -> bytes:
        self.reads += 1
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset:end], min(end, len(self.data))
        return chunk


# --- consultations: create and edit --------------------------------------------------------------------------


async def test_create_and_edit_with_validation(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    with pytest.raises(Invalid) as exc:
        await create(session, staff, title="short", summary="", body="too short", scope="world",
                     addressed_to="nobody", support_limit="0")
    assert set(exc.value.field_errors) == {"title", "summary", "body", "scope", "addressed_to", "support_limit"}
    for limit in ("101", "abc", "-1", "٣", ""):
        with pytest.raises(Invalid) as exc:
            await create(session, staff, support_limit=limit)
        assert set(exc.value.field_errors) == {"support_limit"}, limit
    with pytest.raises(Invalid) as exc:  # a commune is not a province
        await create(session, staff, scope="province", territory_code="05.081.01.01")
    assert set(exc.value.field_errors) == {"territory_code"}
    with pytest.raises(Invalid) as exc:  # another region's commune
        await create(session, staff, scope="commune", territory_code="01.511.01.01")
    assert set(exc.value.field_errors) == {"territory_code"}
    assert await session.scalar(select(func.count()).select_from(Consultation)) == 0
    await session.commit()

    cid = await create(session, staff, territory_code="05.081", support_limit="100",  # region: territory ignored
                       title="استشارة أولى حول الطرق الجبلية")
    consultation = await service.get_consultation(session, cid)
    assert (consultation.scope, consultation.territory_code, consultation.support_limit) == ("region", "05", 100)
    province_id = await create(session, staff, scope="province", territory_code="05.081", title="  " + TITLE + "  ")
    stored = await service.get_consultation(session, province_id)
    assert (stored.scope, stored.territory_code, stored.title) == ("province", "05.081", TITLE)

    changed = dataclasses.replace(GOOD, title="استشارة حول الماء الصالح للشرب", scope="commune",
                                  territory_code="05.081.01.01", addressed_to="body_equality", support_limit="5")
    await service.update_consultation(session, staff, cid, changed, "05", NOW + timedelta(hours=1))
    with pytest.raises(Invalid):
        await service.update_consultation(session, staff, cid, dataclasses.replace(changed, body=""), "05", NOW)
    with pytest.raises(NotFound):
        await service.update_consultation(session, staff, 999_999, changed, "05", NOW)
    session.expire_all()
    stored = await service.get_consultation(session, cid)
    assert (stored.title, stored.scope, stored.territory_code, stored.addressed_to, stored.support_limit) == (
        "استشارة حول الماء الصالح للشرب", "commune", "05.081.01.01", "body_equality", 5)
    assert stored.updated_at == NOW + timedelta(hours=1)
    assert await audit_actions(session) == ["consultations:create", "consultations:create", "consultations:update"]
    # the index follows the edit: the new title is found, the old one no longer
    async with session.begin():
        found = set(await session.scalars(search.matching_ids(session, "consultation", "الماء")))  # type: ignore[arg-type]
        old = set(await session.scalars(search.matching_ids(session, "consultation", "الجبليه")))  # type: ignore[arg-type]
    assert found == {cid} and old == set() and province_id not in found


# --- phases --------------------------------------------------------------------------------------------------


async def test_phases_never_overlap_and_end_after_they_start(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await create(session, staff)
    info = await service.add_phase(session, staff, cid, phase("information", 0, 10), NOW)
    with pytest.raises(Invalid) as exc:
        await service.add_phase(session, staff, cid, phase("proposals", 5, 15), NOW)
    assert set(exc.value.field_errors) == {"starts_at"}
    with pytest.raises(Invalid) as exc:  # inside another phase
        await service.add_phase(session, staff, cid, phase("proposals", 2, 3), NOW)
    assert set(exc.value.field_errors) == {"starts_at"}
    with pytest.raises(Invalid) as exc:
        await service.add_phase(session, staff, cid, phase("proposals", 20, 20), NOW)
    assert exc.value.field_errors == {"ends_at": ["The phase must end after it starts."]}
    with pytest.raises(Invalid) as exc:
        await service.add_phase(session, staff, cid, PhaseInput("party", "tomorrow", "0001-01-01T00:00"), NOW)
    assert set(exc.value.field_errors) == {"kind", "starts_at", "ends_at"}
    proposals = await service.add_phase(session, staff, cid, phase("proposals", 10, 20), NOW)  # touching is fine
    phases = await service.phases_of(session, cid)
    assert [(p.id, p.kind) for p in phases] == [(info, "information"), (proposals, "proposals")]
    assert (phases[1].proposals_enabled, phases[1].supports_enabled, phases[1].comments_enabled,
            phases[1].votes_enabled, phases[1].results_visible) == (True, True, True, False, False)
    # editing: a phase may keep its own dates, but not move onto another one
    await service.update_phase(session, staff, cid, proposals, dataclasses.replace(
        phase("proposals", 10, 20), votes_enabled=True), NOW)
    with pytest.raises(Invalid):
        await service.update_phase(session, staff, cid, proposals, phase("proposals", 9, 20), NOW)
    with pytest.raises(NotFound):  # a phase of another consultation
        other = await create(session, staff)
        await service.update_phase(session, staff, other, proposals, phase("proposals", 10, 20), NOW)
    session.expire_all()
    assert (await service.get_phase(session, staff, cid, proposals, NOW)).votes_enabled is True
    await service.delete_phase(session, staff, cid, info, NOW)
    assert [p.id for p in await service.phases_of(session, cid)] == [proposals]
    assert (await audit_actions(session))[-4:] == ["consultations:add_phase", "consultations:update_phase",
                                                   "consultations:create", "consultations:delete_phase"]


async def test_local_times_are_casablanca_time_stored_in_utc() -> None:
    assert service.parse_local("2026-07-01T12:00") == datetime(2026, 7, 1, 11, 0, tzinfo=UTC)  # UTC+1
    assert service.parse_local("2026-03-01T12:00") == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # UTC+0 (Ramadan)
    assert service.local_input_value(datetime(2026, 7, 1, 11, 0, tzinfo=UTC)) == "2026-07-01T12:00"
    for bad in ("", "2026-13-01T10:00", "10:00", "1999-12-31T23:59", "+002026-01-01T10:00"):
        assert service.parse_local(bad) is None, bad
    assert PhaseInput.defaults("voting").votes_enabled and not PhaseInput.defaults("voting").proposals_enabled
    assert PhaseInput.defaults("results").results_visible
    information = PhaseInput.defaults("information")
    assert not any(getattr(information, flag) for flag in ("proposals_enabled", "supports_enabled",
                                                          "comments_enabled", "votes_enabled", "results_visible"))


MOMENTS = {"before": -40, "information": -20, "proposals": 0, "results": 30, "after": 50}


@pytest.mark.parametrize("role,allowed", [("citizen", False), ("cso_member", False), ("moderator", False),
                                          ("council_staff", True), ("admin", True)])
async def test_role_by_phase_grid_for_managing(session, tmp_path, role: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    """consultations:manage does not depend on the phase: staff may always manage, others never."""
    staff = await make_user(session, 1, role="council_staff")
    actor = await make_user(session, 2, role=role)
    cid = await create(session, staff)
    for kind, start, end in (("information", -30, -10), ("proposals", -10, 20), ("results", 20, 40)):
        await service.add_phase(session, staff, cid, phase(kind, start, end), NOW)
    for i, (moment, days) in enumerate(MOMENTS.items()):
        now = NOW + timedelta(days=days)
        current = await service.current_phase(session, cid, now)
        await session.commit()
        assert (current.kind if current else moment) == moment
        attempts = [
            service.create_consultation(session, actor, GOOD, "05", now),
            service.update_consultation(session, actor, cid, GOOD, "05", now),
            service.add_phase(session, actor, cid, phase("follow_up", 100 + 2 * i, 101 + 2 * i), now),
            documents.store_document(session, actor, cid, "وثيقة", Bytes(PDF), str(tmp_path), 10_000, now),
        ]
        for attempt in attempts:
            if allowed:
                await attempt
            else:
                with pytest.raises(Forbidden):
                    await attempt
    with pytest.raises(NotSignedIn):
        await service.create_consultation(session, Actor(None), GOOD, "05", NOW)
    consultations = await session.scalar(select(func.count()).select_from(Consultation))
    phases = await session.scalar(select(func.count()).select_from(Phase))
    files = await session.scalar(select(func.count()).select_from(ConsultationDocument))
    await session.commit()
    assert (consultations, phases, files) == ((1 + len(MOMENTS), 3 + len(MOMENTS), len(MOMENTS)) if allowed
                                              else (1, 3, 0))
    assert len(list(tmp_path.iterdir())) == (len(MOMENTS) if allowed else 0)


# --- documents -----------------------------------------------------------------------------------------------


async def test_documents_are_checked_stored_and_deleted(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await create(session, staff)
    folder = tmp_path / "uploads" / "consultations"  # created when missing
    big = PDF + b"%" * 20_000
    source = Bytes(big)
    doc_id = await documents.store_document(session, staff, cid, "الوثيقة التقديمية", source, str(folder),
                                            100_000, NOW)
    assert source.reads > 1  # read in chunks
    row = await session.get(ConsultationDocument, doc_id)
    await session.commit()
    assert row is not None and (row.size_bytes, row.sha256) == (len(big), hashlib.sha256(big).hexdigest())
    assert row.stored_name != "الوثيقة التقديمية" and (folder / row.stored_name).read_bytes() == big
    found = await documents.document_file(session, doc_id, str(folder))
    assert found.download_name == "الوثيقة التقديمية.pdf" and found.size_bytes == len(big)

    refusals = [("", PDF, "title"), ("Titre", b"", "file"), ("Titre", b"MZ\x90\x00 not a pdf at all", "file"),
                ("Titre", b"%PD", "file"), ("Titre", b" %PDF-1.4 late magic", "file"),
                ("Titre", PDF + b"%" * 200_000, "file")]
    for title, content, field in refusals:
        with pytest.raises(Invalid) as exc:
            await documents.store_document(session, staff, cid, title, Bytes(content), str(folder), 100_000, NOW)
        assert field in exc.value.field_errors, (title, content[:10])
    too_large = Bytes(PDF + b"%" * 10_000_000)
    with pytest.raises(Invalid):
        await documents.store_document(session, staff, cid, "Titre", too_large, str(folder), 100_000, NOW)
    assert too_large.offset < 200_000  # reading stopped soon after the limit
    with pytest.raises(Invalid) as exc:
        await documents.store_document(session, staff, cid, "Titre", None, str(folder), 100_000, NOW)
    assert set(exc.value.field_errors) == {"file"}
    with pytest.raises(NotFound):
        await documents.store_document(session, staff, 999_999, "Titre", Bytes(PDF), str(folder), 100_000, NOW)
    assert sorted(p.name for p in folder.iterdir()) == [row.stored_name]  # nothing left behind

    with pytest.raises(NotFound):
        await documents.delete_document(session, staff, cid + 1, doc_id, str(folder), NOW)
    await documents.delete_document(session, staff, cid, doc_id, str(folder), NOW)
    assert list(folder.iterdir()) == []
    with pytest.raises(NotFound):
        await documents.document_file(session, doc_id, str(folder))
    assert (await audit_actions(session))[-2:] == ["consultations:add_document", "consultations:delete_document"]


def test_download_names_are_safe() -> None:
    assert documents.download_name('../../etc/passwd"; x=y', 4) == "etc passwd x y.pdf"
    assert documents.download_name("التقرير التركيبي 2026", 4) == "التقرير التركيبي 2026.pdf"
    assert documents.download_name("///", 7) == "document-7.pdf"
    header = documents.content_disposition("التقرير.pdf", 7)
    assert header.startswith('attachment; filename="document-7.pdf"; filename*=UTF-8\'\'%D8%A7')
    assert "/" not in header.split("filename*=")[1]


# --- lists ---------------------------------------------------------------------------------------------------


async def ids(session, filters: ConsultationFilters, now: datetime = NOW, page: int = 1,  # type: ignore[no-untyped-def]
              seed: int = 1) -> list[int]:
    result = await service.list_consultations(session, filters, page, seed, now)
    return [item.consultation.id for item in result.items]


async def test_status_from_phases_and_filters(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    no_phase = await create(session, staff)
    later = await create(session, staff, scope="province", territory_code="05.081", addressed_to="body_youth")
    await service.add_phase(session, staff, later, phase("information", 5, 10), NOW)
    running = await create(session, staff, scope="commune", territory_code="05.081.01.01",
                           title="المنتدى حول مدينة مَرَّاكُش والنقل")
    await service.add_phase(session, staff, running, phase("proposals", -5, 5), NOW)
    gap = await create(session, staff, scope="province", territory_code="05.091")
    await service.add_phase(session, staff, gap, phase("information", -10, -5), NOW)
    await service.add_phase(session, staff, gap, phase("voting", 5, 10), NOW)
    ended = await create(session, staff, addressed_to="body_youth")
    await service.add_phase(session, staff, ended, phase("results", -10, -1), NOW)

    newest = [ended, gap, running, later, no_phase]
    assert await ids(session, ConsultationFilters()) == newest
    assert await ids(session, ConsultationFilters(status="upcoming")) == [later, no_phase]
    assert await ids(session, ConsultationFilters(status="open")) == [gap, running]
    assert await ids(session, ConsultationFilters(status="closed")) == [ended]
    assert await ids(session, ConsultationFilters(territory="05.081")) == [running, later]
    assert await ids(session, ConsultationFilters(body="body_youth")) == [ended, later]
    assert await ids(session, ConsultationFilters(q="مراكش")) == [running]
    assert await ids(session, ConsultationFilters(q="مراكش", status="closed")) == []
    assert await ids(session, ConsultationFilters(q="!!!")) == newest  # no words: no search filter
    page = await service.list_consultations(session, ConsultationFilters(), 1, 1, NOW)
    by_id = {item.consultation.id: item for item in page.items}
    assert [by_id[i].status for i in newest] == ["closed", "open", "open", "upcoming", "upcoming"]
    assert by_id[running].current is not None and by_id[running].current.kind == "proposals"
    assert by_id[gap].current is None and len(by_id[gap].phases) == 2
    assert by_id[running].territory.code == "05.081.01.01" and by_id[running].counts.proposals == 0
    # the phase's end is excluded: at that very moment the consultation is closed
    assert await ids(session, ConsultationFilters(status="closed"), NOW + timedelta(days=5)) == [ended, running]

    parsed = ConsultationFilters.parse({"status": "bogus", "territory": "x" * 30, "body": "nobody", "sort": "odd",
                                        "q": "  مراكش \x00 "})
    assert parsed == ConsultationFilters(q="مراكش")
    assert ConsultationFilters(status="open", sort="random").query() == {"status": "open", "sort": "random"}


async def test_random_pages_yield_each_of_95_once_in_a_stable_order(session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    created = [await create(session, staff, title=f"{TITLE} {n}") for n in range(95)]
    orders = []
    for seed in (424_242, 424_242, listing.PRIME // 2):
        seen: list[int] = []
        for number in range(1, 11):
            result = await service.list_consultations(session, ConsultationFilters(sort="random"), number, seed, NOW)
            assert len(result.items) == (10 if number < 10 else 5) and (result.total, result.pages) == (95, 10)
            seen += [item.consultation.id for item in result.items]
        assert len(seen) == len(set(seen)) == 95 and set(seen) == set(created)
        orders.append(seen)
    assert orders[0] == orders[1]  # the same visitor's seed: the same order on every visit
    assert orders[0] != orders[2] and orders[0] != created and orders[0] != created[::-1]
    newest = [i for n in range(1, 11) for i in await ids(session, ConsultationFilters(), page=n)]
    assert newest == created[::-1]
    assert await ids(session, ConsultationFilters(), page=11) == []


# --- through HTTP --------------------------------------------------------------------------------------------


async def sign_in(client, session, role: str, n: int = 1) -> Actor:  # type: ignore[no-untyped-def]
    email = f"{role}{n}@test.invalid"
    uid = await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD, role=role,
                                     commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303
    return Actor(uid, role, f"{role} {n}")


def form_data(token: str, **over: str) -> dict[str, str]:
    data = {"csrf_token": token, "title": TITLE, "summary": "ملخص قصير.", "body": BODY, "easy_read": "",
            "scope": "region", "territory_code": "", "addressed_to": "council", "support_limit": "3"}
    data.update(over)
    return data


async def test_staff_create_edit_and_phases_through_http(client, session) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "council_staff")
    page = await client.get("/consultations/new")
    assert page.status_code == 200 and 'name="support_limit"' in page.text and 'value="05.081"' in page.text
    token = csrf_from(page.text)
    bad = await client.post("/consultations/new", data=form_data(token, title="قصير", scope="province",
                                                                 territory_code="05.081.01.01", support_limit="500"))
    assert bad.status_code == 422
    for name in ("title", "territory_code", "support_limit"):
        assert f'id="{name}-error"' in bad.text and f'aria-describedby="{name}-hint {name}-error"' in bad.text
    assert 'value="قصير"' in bad.text and 'value="500"' in bad.text and "ملخص قصير." in bad.text  # kept
    r = await client.post("/consultations/new", data=form_data(token, scope="province", territory_code="05.081",
                                                               easy_read="بكلمات بسيطة: شاركوا."))
    assert r.status_code == 303
    cid = int(r.headers["location"].rsplit("/", 1)[1])
    detail = await client.get(r.headers["location"])
    assert detail.status_code == 200 and TITLE in detail.text and 'role="status"' in detail.text
    assert detail.text.index("بكلمات بسيطة: شاركوا.") < detail.text.index(BODY)  # easy-read first
    assert f'href="/consultations/{cid}/phases"' in detail.text and f'/consultations/{cid}/edit"' in detail.text

    edit = await client.get(f"/consultations/{cid}/edit")
    assert edit.status_code == 200 and 'id="scope-province" name="scope" value="province" checked' in edit.text
    assert 'value="05.081" selected' in edit.text
    r = await client.post(f"/consultations/{cid}/edit", data=form_data(token, title=TITLE + " 2026",
                                                                       addressed_to="body_youth"))
    assert r.status_code == 303
    assert (await client.get(f"/api/v1/consultations/{cid}")).json()["addressed_to"] == "body_youth"

    phases = await client.get(f"/consultations/{cid}/phases", params={"kind": "voting"})
    assert phases.status_code == 200
    assert 'id="votes_enabled" name="votes_enabled" type="checkbox" value="y" checked' in phases.text
    assert 'id="proposals_enabled" name="proposals_enabled" type="checkbox" value="y">' in phases.text
    assert '<option value="voting" selected>' in phases.text
    now = utcnow()
    start, end = local(now - timedelta(days=1)), local(now + timedelta(days=9))
    r = await client.post(f"/consultations/{cid}/phases", data={
        "csrf_token": token, "kind": "proposals", "starts_at": start, "ends_at": end, "proposals_enabled": "y",
        "comments_enabled": "y"})
    assert r.status_code == 303 and r.headers["location"] == f"/consultations/{cid}/phases"
    overlap = await client.post(f"/consultations/{cid}/phases", data={
        "csrf_token": token, "kind": "voting", "starts_at": local(now + timedelta(days=8)),
        "ends_at": local(now + timedelta(days=12)), "votes_enabled": "y"})
    assert overlap.status_code == 422 and 'id="starts_at-error"' in overlap.text
    assert f'value="{local(now + timedelta(days=12))}"' in overlap.text  # what was typed is kept
    listing = await client.get(f"/consultations/{cid}/phases")
    assert 'role="status"' not in listing.text  # the flash was shown once, after the redirect
    assert f'value="{end}"' in listing.text  # the next phase starts where the last one ends
    assert '<option value="deliberation" selected>' in listing.text  # and is of the kind that usually follows

    detail = await client.get(f"/consultations/{cid}")
    assert 'aria-current="step"' in detail.text and ar("You can submit proposals.") in detail.text
    assert ar("You can support the proposals you agree with.") not in detail.text  # supports were not ticked
    api = (await client.get(f"/api/v1/consultations/{cid}")).json()
    phase_id = (await session.scalar(select(Phase.id).where(Phase.consultation_id == cid)))
    await session.commit()
    edit_phase = await client.get(f"/consultations/{cid}/phases/{phase_id}/edit")
    assert edit_phase.status_code == 200 and f'value="{start}"' in edit_phase.text
    r = await client.post(f"/consultations/{cid}/phases/{phase_id}/edit", data={
        "csrf_token": token, "kind": "proposals", "starts_at": start, "ends_at": end, "supports_enabled": "y"})
    assert r.status_code == 303
    assert (await client.get(f"/api/v1/consultations/{cid}")).json()["current_phase"]["supports_enabled"] is True
    assert api["current_phase"]["supports_enabled"] is False
    r = await client.post(f"/consultations/{cid}/phases/{phase_id}/delete", data={"csrf_token": token})
    assert r.status_code == 303
    assert (await client.get(f"/api/v1/consultations/{cid}")).json()["phases"] == []
    assert (await audit_actions(session)).count("consultations:add_phase") == 1


async def test_staff_pages_are_refused_to_others(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    cid = await create(session, staff)
    pid = await service.add_phase(session, staff, cid, phase("information", -1, 1, utcnow()), NOW)
    staff_pages = ("/consultations/new", f"/consultations/{cid}/edit", f"/consultations/{cid}/phases",
                   f"/consultations/{cid}/phases/{pid}/edit", f"/consultations/{cid}/documents")
    for path in staff_pages:
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    public = await client.get(f"/consultations/{cid}")
    assert public.status_code == 200 and "/edit" not in public.text
    await sign_in(client, session, "citizen")
    for path in staff_pages:
        assert (await client.get(path)).status_code == 403, path
    token = csrf_from((await client.get(f"/consultations/{cid}")).text)
    posts = {"/consultations/new": form_data(token), f"/consultations/{cid}/edit": form_data(token),
             f"/consultations/{cid}/phases": {"csrf_token": token, **dataclasses.asdict(phase("voting", 5, 6))},
             f"/consultations/{cid}/phases/{pid}/delete": {"csrf_token": token}}
    for path, data in posts.items():
        r = await client.post(path, data={k: ("y" if v is True else v) for k, v in data.items() if v is not False})
        assert r.status_code == 403, path
    r = await client.post(f"/consultations/{cid}/documents", data={"csrf_token": token, "title": "x"},
                          files={"file": ("a.pdf", PDF, "application/pdf")})
    assert r.status_code == 403
    for path in posts:  # and without the CSRF token
        assert (await client.post(path, data={"title": "x"})).status_code == 403, path
    assert await session.scalar(select(func.count()).select_from(Consultation)) == 1
    assert await session.scalar(select(func.count()).select_from(Phase)) == 1
    await session.commit()
    assert (await client.get("/consultations/999999")).status_code == 404
    assert (await client.get("/consultations/99999999999")).status_code == 404


@pytest.fixture
async def upload_client(settings, sessionmaker, tmp_path):  # type: ignore[no-untyped-def]
    """A client on an app whose documents go to a temporary folder, with a small upload limit (4 KiB)."""
    app = create_app(dataclasses.replace(settings, upload_dir=str(tmp_path / "docs"), max_upload_bytes=4096))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c
    await app.state.engine.dispose()


async def test_uploads_through_http(upload_client, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = upload_client
    staff = await sign_in(client, session, "council_staff")
    cid = await create(session, staff)
    page = await client.get(f"/consultations/{cid}/documents")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert ar("%(size)s KB") % {"size": "4"} in page.text
    token = csrf_from(page.text)
    path = f"/consultations/{cid}/documents"
    r = await client.post(path, data={"csrf_token": token, "title": "التقرير التركيبي"},
                          files={"file": ("rapport final.pdf", PDF, "application/pdf")})
    assert r.status_code == 303 and r.headers["location"] == path
    doc_id = await session.scalar(select(ConsultationDocument.id).where(ConsultationDocument.consultation_id == cid))
    await session.commit()
    detail = await client.get(f"/consultations/{cid}")
    assert f'href="/documents/{doc_id}.pdf"' in detail.text and "التقرير التركيبي" in detail.text
    download = await client.get(f"/documents/{doc_id}.pdf")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="document-{doc_id}.pdf"; filename*=UTF-8\'\'')

    refused = {
        "not a PDF": ({"title": "Faux"}, ("faux.pdf", b"<html>not a pdf</html>", "application/pdf")),
        "empty": ({"title": "Vide"}, ("vide.pdf", b"", "application/pdf")),
        "too large": ({"title": "Gros"}, ("gros.pdf", PDF + b"%" * 5000, "application/pdf")),
        "no title": ({"title": ""}, ("ok.pdf", PDF, "application/pdf")),
    }
    for why, (fields, upload) in refused.items():
        r = await client.post(path, data={"csrf_token": token, **fields}, files={"file": upload})
        assert r.status_code == 422, why
        assert ('id="file-error"' in r.text) != (why == "no title"), why
        assert f'value="{fields["title"]}"' in r.text or not fields["title"], why  # the title is kept
    no_file = await client.post(path, data={"csrf_token": token, "title": "Sans fichier"})
    assert no_file.status_code == 422 and 'id="file-error"' in no_file.text
    body_limit = await client.post(path, data={"csrf_token": token, "title": "Énorme"},
                                   files={"file": ("e.pdf", PDF + b"%" * (80 * 1024), "application/pdf")})
    assert body_limit.status_code == 413
    two = await client.post(path, data={"csrf_token": token, "title": "Deux"},
                            files=[("file", ("a.pdf", PDF, "application/pdf")),
                                   ("file", ("b.pdf", PDF, "application/pdf"))])
    assert two.status_code == 400
    no_csrf = await client.post(path, data={"title": "Sans jeton"}, files={"file": ("a.pdf", PDF, "application/pdf")})
    assert no_csrf.status_code == 403
    assert await session.scalar(select(func.count()).select_from(ConsultationDocument)) == 1
    await session.commit()
    assert len(list((tmp_path / "docs").iterdir())) == 1

    r = await client.post(f"/consultations/{cid}/documents/{doc_id}/delete", data={"csrf_token": token})
    assert r.status_code == 303
    assert (await client.get(f"/documents/{doc_id}.pdf")).status_code == 404
    assert list((tmp_path / "docs").iterdir()) == []
    assert (await client.get("/documents/424242.pdf")).status_code == 404


async def test_public_list_filters_pages_and_htmx(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    now = utcnow()
    created = []
    for n in range(12):
        cid = await create(session, staff, title=f"{TITLE} رقم {n}")
        await service.add_phase(session, staff, cid, phase("proposals", -1, 5, now), now)
        created.append(cid)
    upcoming = await create(session, staff, title="استشارة لم تبدأ بعد حول الرياضة")
    r = await client.get("/consultations", params={"status": "open"})
    assert r.status_code == 200 and r.text.count('class="card"') == 10 and "لم تبدأ" not in r.text
    assert '<option value="open" selected>' in r.text and 'aria-live="polite"' in r.text
    assert r.text.count("<h1") == 1
    assert '/consultations?status=open&amp;page=2"' in r.text  # page links keep the filters
    second = await client.get("/consultations", params={"status": "open", "page": "2"})
    assert second.text.count('class="card"') == 2 and 'aria-current="page"' in second.text
    fragment = await client.get("/consultations", params={"status": "upcoming"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith('<section id="results"')
    assert f'/consultations/{upcoming}"' in fragment.text and f'/consultations/{created[0]}"' not in fragment.text
    randomly = [await client.get("/consultations", params={"sort": "random"}) for _ in range(2)]
    assert randomly[0].text == randomly[1].text  # the visitor's seed is kept in the session
    assert (await client.get("/consultations", params={"page": "x", "status": "<script>"})).status_code == 200
    home = await client.get("/")
    assert 'href="/consultations"' in home.text


async def test_api_shapes(client, session) -> None:  # type: ignore[no-untyped-def]
    staff = await make_user(session, 1, role="council_staff")
    now = utcnow()
    cid = await create(session, staff, scope="commune", territory_code="05.091.01.01", easy_read="نص بسيط.")
    await service.add_phase(session, staff, cid, phase("information", -10, -1, now), now)
    await service.add_phase(session, staff, cid, phase("proposals", -1, 9, now), now)
    for n in range(11):
        await create(session, staff, title=f"{TITLE} {n}")
    first = (await client.get("/api/v1/consultations")).json()
    assert (first["page"], first["pages"], first["per_page"], first["total"]) == (1, 2, 10, 12)
    last = (await client.get("/api/v1/consultations", params={"page": 2})).json()
    assert len(last["consultations"]) == 2 and last["consultations"][-1]["id"] == cid  # the oldest comes last
    item = next(c for c in last["consultations"] if c["id"] == cid)
    assert set(item) == {"id", "title", "summary", "scope", "territory_code", "addressed_to", "support_limit",
                         "status", "current_phase", "phases", "counts"}
    assert (item["scope"], item["territory_code"], item["status"]) == ("commune", "05.091.01.01", "open")
    assert item["current_phase"]["kind"] == "proposals" and item["current_phase"]["proposals_enabled"] is True
    assert [p["kind"] for p in item["phases"]] == ["information", "proposals"]
    assert datetime.fromisoformat(item["phases"][0]["starts_at"]).utcoffset() == timedelta(0)
    assert item["counts"] == {"proposals": 0, "comments": 0}
    one = (await client.get(f"/api/v1/consultations/{cid}")).json()
    assert one["easy_read"] == "نص بسيط." and one["body"] == BODY and one["documents"] == [] and one["meetings"] == []
    assert "created_by" not in one and "email" not in str(one)
    missing = await client.get("/api/v1/consultations/999999")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    filtered = (await client.get("/api/v1/consultations", params={"status": "open"})).json()
    assert [c["id"] for c in filtered["consultations"]] == [cid]


def test_demo_loader_signature() -> None:
    import inspect

    from civic.consultations import demo

    assert list(inspect.signature(demo.load).parameters) == ["session", "settings", "staff", "now"]


async def test_demo_consultations(session, settings) -> None:  # type: ignore[no-untyped-def]
    from civic.consultations import demo

    staff = await make_user(session, 1, role="council_staff")
    youth, health = await demo.load(session, settings, staff, NOW)
    youth_phase = await service.current_phase(session, youth, NOW)
    health_phase = await service.current_phase(session, health, NOW)
    await session.commit()
    assert youth_phase is not None and youth_phase.kind == "proposals"
    assert (youth_phase.proposals_enabled, youth_phase.supports_enabled, youth_phase.comments_enabled) == (
        True, True, True)
    assert [p.kind for p in await service.phases_of(session, youth)] == [
        "information", "proposals", "deliberation", "voting", "results"]
    assert health_phase is not None and health_phase.kind == "information"
    assert not any((health_phase.proposals_enabled, health_phase.supports_enabled, health_phase.comments_enabled,
                    health_phase.votes_enabled))
    c1, c2 = await service.get_consultation(session, youth), await service.get_consultation(session, health)
    assert (c1.addressed_to, c1.scope, c1.support_limit) == ("body_youth", "region", 3)
    assert (c2.addressed_to, c2.scope, c2.territory_code) == ("body_equality", "province", "05.081")


async def test_forum_meetings_are_listed_on_the_page(client, session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from civic.consultations.models import Meeting

    staff = await make_user(session, 1, role="council_staff")
    cid = await create(session, staff)
    start = utcnow() + timedelta(days=3)
    meeting_id = int((await session.execute(insert(Meeting).values(
        consultation_id=cid, title="لقاء المنتدى بأزيلال", mode="hybrid", commune_code="05.081.01.01",
        address="دار الشباب", online_url="https://meet.example.ma/x", starts_at=start,
        ends_at=start + timedelta(hours=3), capacity=40, created_at=NOW).returning(Meeting.id))).scalar_one())
    await session.commit()
    page = await client.get(f"/consultations/{cid}")
    assert f'href="/meetings/{meeting_id}"' in page.text and "لقاء المنتدى بأزيلال" in page.text
    assert f'datetime="{start.isoformat()}"' in page.text
    api = (await client.get(f"/api/v1/consultations/{cid}")).json()
    assert [(m["id"], m["mode"]) for m in api["meetings"]] == [(meeting_id, "hybrid")]
