"""The exports centre (issue #6, item 7): every staff list as CSV (BOM), XLSX (right to left in Arabic) and JSON,
formula cells neutralised, hidden content left out, personal lists refused without ``exports:personal`` and
audited with their row count, and the streaming writers' memory flat whatever the number of rows.

Consultations, proposals, comments and meetings are put straight into the database (ORM rows): these tests are
about exporting them, not about the services that create them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from civic.accounts.models import RoleGrant, User
from civic.audit import AuditEvent
from civic.consultations.models import Consultation, Meeting, MeetingRegistration, Phase
from civic.exports import streaming
from civic.exports.streaming import Column
from civic.organisations.models import Organisation
from civic.petitions.models import Petition
from civic.proposals.models import Comment, Proposal, Support
from tests.conftest import NOW, make_user
from tests.test_dossier import SIGNATORIES, seeded, sign_in

FORMULA_TITLE = '=HYPERLINK("http://evil.example","cliquez ici")'
HIDDEN_TITLE = "Proposition masquée par la modération"
WITHDRAWN_TITLE = "Proposition retirée par son auteur"
VISIBLE_TITLE = "تهيئة محطة الحافلات في خنيفرة"
HIDDEN_COMMENT = "Commentaire masqué par la modération"
REGISTRANT = "Registrant Secretname"
DATASETS = ("petitions", "organisations", "consultations", "proposals", "comments")
FORMATS = ("csv", "xlsx", "json")


async def consultation_data(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One consultation in its proposals phase with a visible proposal (formula-like title, 2 supports), a
    visible one in Arabic, a hidden one, a withdrawn one, a visible and a hidden comment, and a meeting with
    two registrations (one on the waiting list)."""
    staff = await make_user(session, 900, "council_staff")
    people = [await make_user(session, 901 + i) for i in range(3)]
    consultation = Consultation(
        title="Mobilité dans la région", summary="=SUM(A1:A9)", body="Texte de la consultation " * 5,
        scope="region", territory_code="05", addressed_to="council", support_limit=3, created_by=staff.user_id,
        created_at=NOW, updated_at=NOW)
    organisation = Organisation(
        name_ar="جمعية الأمل للتنمية", name_fr="@Association Espoir", registration_ref="RA-2015-1",
        founded_on=date(2015, 1, 1), seat_commune_code="05.091.01.01", activity="Transport et mobilité",
        legal_representative_id=people[0].user_id, status="verified", created_at=NOW)
    session.add_all([consultation, organisation])
    await session.flush()
    session.add(Phase(consultation_id=consultation.id, kind="proposals", starts_at=NOW - timedelta(days=1),
                      ends_at=NOW + timedelta(days=30), proposals_enabled=True, supports_enabled=True,
                      comments_enabled=True))

    def proposal(title: str, **over: object) -> Proposal:
        values: dict[str, object] = {
            "consultation_id": consultation.id, "author_id": people[0].user_id, "title": title,
            "body": "Le texte de la proposition. " * 3, "category": "transport", "territory_code": "05.091",
            "status": "published", "created_at": NOW, "updated_at": NOW}
        values.update(over)
        return Proposal(**values)

    formula = proposal(FORMULA_TITLE, organisation_id=organisation.id)
    arabic = proposal(VISIBLE_TITLE)
    hidden = proposal(HIDDEN_TITLE, hidden_at=NOW, hidden_reason="spam")
    withdrawn = proposal(WITHDRAWN_TITLE, status="withdrawn")
    session.add_all([formula, arabic, hidden, withdrawn])
    await session.flush()
    session.add_all([Support(proposal_id=formula.id, consultation_id=consultation.id, user_id=p.user_id, slot=1,
                             created_at=NOW) for p in people[:2]])
    session.add_all([
        Comment(consultation_id=consultation.id, proposal_id=formula.id, author_id=people[1].user_id, stance="for",
                body="+Un commentaire visible", created_at=NOW),
        Comment(consultation_id=consultation.id, proposal_id=None, author_id=people[2].user_id, stance="against",
                body=HIDDEN_COMMENT, created_at=NOW, hidden_at=NOW),
    ])
    meeting = Meeting(consultation_id=consultation.id, title="Réunion du forum à Béni Mellal", mode="in_person",
                      commune_code="05.091.01.01", address="Salle communale", starts_at=NOW + timedelta(days=3),
                      ends_at=NOW + timedelta(days=3, hours=2), capacity=1, created_at=NOW)
    session.add(meeting)
    await session.flush()
    registrant = await make_user(session, 950)
    await session.execute(update(User).where(User.id == registrant.user_id).values(display_name=REGISTRANT))
    session.add_all([
        MeetingRegistration(meeting_id=meeting.id, user_id=registrant.user_id, seat=1, status="registered",
                            sign_language=True, registered_at=NOW),
        MeetingRegistration(meeting_id=meeting.id, user_id=people[1].user_id, seat=None, status="waiting",
                            wheelchair=True, registered_at=NOW + timedelta(minutes=1)),
    ])
    await session.commit()
    return {"consultation": consultation.id, "formula": formula.id, "arabic": arabic.id, "hidden": hidden.id,
            "withdrawn": withdrawn.id, "meeting": meeting.id}


async def audit_events(session) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    events = list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())
    await session.commit()
    return events


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "CSV without a UTF-8 BOM"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> tuple[bool, list[tuple[object, ...]]]:
    wb = load_workbook(io.BytesIO(content))
    ws = wb.worksheets[0]
    return bool(ws.sheet_view.rightToLeft), [tuple(r) for r in ws.iter_rows(values_only=True)]


# --- every list in every format ----------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
async def test_each_list_in_each_format(client, session, keys, dataset) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    ids = await consultation_data(session)
    await sign_in(client, session, "council_staff", 1)
    expected = {"petitions": str(pid), "organisations": "جمعية الأمل للتنمية",
                "consultations": str(ids["consultation"]), "proposals": str(ids["formula"]),
                "comments": "+Un commentaire visible"}[dataset]
    for fmt in FORMATS:
        r = await client.get(f"/staff/exports/{dataset}.{fmt}")
        assert r.status_code == 200, r.text[:300]
        assert re.fullmatch(rf'attachment; filename="civic-{dataset}-\d{{4}}-\d{{2}}-\d{{2}}\.{fmt}"',
                            r.headers["content-disposition"])
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-type"].startswith(streaming.MEDIA_TYPES[fmt].split(";")[0])
        if fmt == "csv":
            rows = csv_rows(r.content)
            assert len(rows[0]) > 3 and rows[0][0]  # translated header
            cells = [c for row in rows[1:] for c in row]
        elif fmt == "xlsx":
            rtl, rows_x = xlsx_rows(r.content)
            assert rtl, "Arabic exports are right-to-left sheets"
            cells = [str(c) for row in rows_x[1:] for c in row if c is not None]
        else:
            items = json.loads(r.content)
            assert isinstance(items, list) and all(isinstance(i, dict) for i in items)
            cells = [str(v) for item in items for v in item.values()]
        assert any(expected in c for c in cells), (fmt, expected, cells[:20])
        assert not any(HIDDEN_TITLE in c or HIDDEN_COMMENT in c for c in cells), fmt


async def test_petitions_list_has_counts_and_leaves_out_hidden_and_draft_petitions(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    hidden = await seeded(session, keys)
    await session.execute(update(Petition).where(Petition.id == hidden).values(hidden_at=NOW, hidden_reason="x"))
    draft = Petition(title="Un brouillon jamais publié", body="x" * 60, addressed_to="council", region_code="05",
                     author_id=(await make_user(session, 77)).user_id, created_at=NOW)
    session.add(draft)
    await session.commit()
    await sign_in(client, session, "council_staff", 1)
    items = json.loads((await client.get("/staff/exports/petitions.json")).content)
    assert [(i["id"], i["signatures"], i["status"]) for i in items] == [(pid, 6, "collecting")]
    assert set(items[0]) == {c.key for c in streaming_columns("petitions")}
    # people get translated labels in CSV: the status is not the code
    rows = csv_rows((await client.get("/staff/exports/petitions.csv")).content)
    assert rows[1][4] != "collecting" and rows[1][11] == "6"


def streaming_columns(dataset: str) -> tuple[Column, ...]:
    from civic.exports.centre import DATASETS as ALL

    return ALL[dataset].columns


async def test_formula_cells_are_neutralised_in_csv_and_xlsx_but_kept_in_json(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    ids = await consultation_data(session)
    await sign_in(client, session, "council_staff", 1)
    rows = csv_rows((await client.get("/staff/exports/proposals.csv")).content)
    titles = [row[2] for row in rows[1:]]
    assert "'" + FORMULA_TITLE in titles and FORMULA_TITLE not in titles
    summaries = [row[2] for row in csv_rows((await client.get("/staff/exports/consultations.csv")).content)[1:]]
    assert summaries == ["'=SUM(A1:A9)"]
    comments = csv_rows((await client.get("/staff/exports/comments.csv")).content)
    assert [row[5] for row in comments[1:]] == ["'+Un commentaire visible"]

    r = await client.get("/staff/exports/proposals.xlsx", params={"consultation_id": ids["consultation"]})
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.worksheets[0]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row if c.value == "'" + FORMULA_TITLE]
    assert cells and all(c.data_type == "s" for c in cells)
    assert not any(str(c.value).startswith("=") for row in ws.iter_rows() for c in row if c.value is not None)

    items = json.loads((await client.get("/staff/exports/proposals.json")).content)
    assert FORMULA_TITLE in [i["title"] for i in items]  # JSON is data, not a spreadsheet


async def test_proposals_have_support_counts_and_leave_out_hidden_ones(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    ids = await consultation_data(session)
    await sign_in(client, session, "council_staff", 1)
    items = json.loads((await client.get("/staff/exports/proposals.json",
                                         params={"consultation_id": ids["consultation"]})).content)
    by_id = {i["id"]: i for i in items}
    assert ids["hidden"] not in by_id
    assert by_id[ids["formula"]]["supports"] == 2 and by_id[ids["arabic"]]["supports"] == 0
    assert by_id[ids["withdrawn"]]["status"] == "withdrawn"  # staff see withdrawn proposals, marked so
    assert "author" not in by_id[ids["formula"]] and "User 901" not in json.dumps(items)
    assert by_id[ids["formula"]]["organisation_fr"] == "@Association Espoir"
    consultations = json.loads((await client.get("/staff/exports/consultations.json")).content)
    assert [(c["proposals"], c["comments"], c["current_phase"]) for c in consultations] == [(2, 1, "proposals")]


async def test_french_xlsx_is_left_to_right_with_french_labels(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    await seeded(session, keys)
    await sign_in(client, session, "council_staff", 1)
    await client.get("/lang/fr?next=/")
    rtl, rows = xlsx_rows((await client.get("/staff/exports/petitions.xlsx")).content)
    assert not rtl
    assert rows[0][1] == "Titre" and rows[1][0]


# --- personal lists ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["citizen", "moderator", "cso_member"])
async def test_personal_lists_are_refused_without_the_permission(client, session, keys, role) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    ids = await consultation_data(session)
    before = len(await audit_events(session))
    await sign_in(client, session, role, 2)
    for path in (f"/staff/exports/signatures.csv?petition_id={pid}",
                 f"/staff/exports/signatures.json?petition_id={pid}",
                 f"/staff/exports/registrations.xlsx?meeting_id={ids['meeting']}", "/staff/exports/petitions.csv",
                 f"/staff/petitions/{pid}/signatures.csv", "/staff/exports"):
        r = await client.get(path)
        assert r.status_code == 403, path
        assert SIGNATORIES[1][1] not in r.text and REGISTRANT not in r.text
    events = await audit_events(session)
    assert not [e for e in events[before:] if e.action.endswith("export_personal") or e.action == "exports:download"]


async def test_anonymous_visitors_are_sent_to_sign_in(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    for path in ("/staff/exports", f"/staff/exports/signatures.csv?petition_id={pid}", "/staff/exports/petitions.json"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


@pytest.mark.parametrize("fmt", FORMATS)
async def test_signatures_export_has_personal_data_and_is_audited(client, session, keys, fmt) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    await sign_in(client, session, "council_staff", 1)
    r = await client.get(f"/staff/exports/signatures.{fmt}", params={"petition_id": pid})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    if fmt == "csv":
        rows = csv_rows(r.content)[1:]
        assert [row[3] for row in rows] == [cnie for cnie, _n, _c in SIGNATORIES]
        assert rows[0][2] == "'=HYPERLINK(\"x\")" and rows[2][2] == "'+Omar Plusname"
    elif fmt == "xlsx":
        rtl, rows_x = xlsx_rows(r.content)
        assert rtl and [row[3] for row in rows_x[1:]] == [cnie for cnie, _n, _c in SIGNATORIES]
        assert rows_x[1][2] == "'=HYPERLINK(\"x\")" and rows_x[1][5] == "خنيفرة"
    else:
        items = json.loads(r.content)
        assert [i["cnie"] for i in items] == [cnie for cnie, _n, _c in SIGNATORIES]
        assert items[0]["full_name"] == '=HYPERLINK("x")' and items[0]["number"] == 1
        assert items[0]["channel"] == "online" and items[0]["electoral_declaration"] is True
    event = (await audit_events(session))[-1]
    assert (event.action, event.subject_type, event.subject_id) == ("signatures:export_personal", "petition",
                                                                    str(pid))
    assert json.loads(event.detail) == {"dataset": "signatures", "format": fmt, "filters": {"petition_id": pid},
                                        "rows": 6}


async def test_registrations_export_is_audited_with_its_count(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    ids = await consultation_data(session)
    await sign_in(client, session, "council_staff", 1)
    r = await client.get("/staff/exports/registrations.json", params={"meeting_id": ids["meeting"]})
    items = json.loads(r.content)
    assert [(i["number"], i["name"], i["status"], i["seat"], i["sign_language"], i["wheelchair"]) for i in items] == [
        (1, REGISTRANT, "registered", 1, True, False), (2, "User 902", "waiting", None, False, True)]
    rows = csv_rows((await client.get(f"/staff/exports/registrations.csv?meeting_id={ids['meeting']}")).content)
    assert rows[1][1] == REGISTRANT and rows[1][4] != "True"  # yes/no in the request's language
    event = (await audit_events(session))[-1]
    assert (event.action, event.subject_type, event.subject_id) == ("registrations:export_personal", "meeting",
                                                                    str(ids["meeting"]))
    assert json.loads(event.detail)["rows"] == 2


async def test_list_exports_are_audited_with_dataset_format_and_filters(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    ids = await consultation_data(session)
    await sign_in(client, session, "council_staff", 1)
    await client.get("/staff/exports/comments.xlsx", params={"consultation_id": ids["consultation"]})
    await client.get("/staff/exports/organisations.json")
    events = (await audit_events(session))[-2:]
    assert [(e.action, e.subject_type, e.subject_id, json.loads(e.detail)) for e in events] == [
        ("exports:download", "dataset", "comments",
         {"dataset": "comments", "format": "xlsx", "filters": {"consultation_id": ids["consultation"]}}),
        ("exports:download", "dataset", "organisations", {"dataset": "organisations", "format": "json",
                                                          "filters": {}}),
    ]


@pytest.mark.parametrize("path", [
    "/staff/exports/nothing.csv", "/staff/exports/petitions.pdf", "/staff/exports/signatures.csv",
    "/staff/exports/signatures.csv?petition_id=abc", "/staff/exports/signatures.csv?petition_id=999999",
    "/staff/exports/signatures.csv?petition_id=99999999999999999999", "/staff/exports/registrations.json",
    "/staff/exports/proposals.csv?consultation_id=-1", "/staff/exports/proposals.csv?consultation_id=424242",
])
async def test_unknown_lists_formats_and_subjects_are_404(client, session, keys, path) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "council_staff", 1)
    r = await client.get(path)
    assert r.status_code == 404 and "Traceback" not in r.text


async def test_the_first_signatures_csv_address_keeps_its_file_name(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    await sign_in(client, session, "council_staff", 1)
    r = await client.get(f"/staff/petitions/{pid}/signatures.csv")
    assert r.headers["content-disposition"] == f'attachment; filename="petition-{pid}-signatures.csv"'
    assert [row[3] for row in csv_rows(r.content)[1:]] == [cnie for cnie, _n, _c in SIGNATORIES]
    assert (await audit_events(session))[-1].action == "signatures:export_personal"


async def test_centre_page_lists_every_dataset_with_three_formats(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    ids = await consultation_data(session)
    await sign_in(client, session, "council_staff", 1)
    r = await client.get("/staff/exports")
    assert r.status_code == 200 and r.text.count("<h1") == 1
    for dataset in DATASETS:
        for fmt in FORMATS:
            assert f'href="/staff/exports/{dataset}.{fmt}' in r.text, (dataset, fmt)
    assert f"/staff/exports/signatures.xlsx?petition_id={pid}" in r.text
    assert f"/staff/exports/registrations.json?meeting_id={ids['meeting']}" in r.text
    assert f"/staff/exports/proposals.csv?consultation_id={ids['consultation']}" in r.text
    assert "<caption" in r.text and 'scope="col"' in r.text


# --- the writers -------------------------------------------------------------------------------------------


async def _many(n: int) -> AsyncIterator[tuple[object, ...]]:
    for i in range(n):
        yield (i, f"=cell {i}", "نص عربي", NOW, i % 2 == 0, None)


COLUMNS = (Column("n", "Number"), Column("text", "Title"), Column("ar", "Commune"), Column("at", "Created on"),
           Column("flag", "Attended"), Column("none", "Seat"))


async def _peak(fmt: str, rows: int) -> tuple[int, int]:
    """(bytes written, peak of Python allocations) while ``rows`` rows go through the writer, bytes dropped."""
    tracemalloc.start()
    try:
        size = 0
        async for chunk in streaming.encode(fmt, COLUMNS, _many(rows)):
            size += len(chunk)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_writers_keep_memory_flat(fmt) -> None:  # type: ignore[no-untyped-def]
    """Eight times more rows, megabytes more output, and the same peak: the writers hold a batch, never the
    file (the 1,000,000-row measurement of the whole server is bench/export_memory.py)."""
    await _peak(fmt, 10)  # catalogues and caches loaded once
    small_size, small_peak = await _peak(fmt, 5_000)
    big_size, big_peak = await _peak(fmt, 40_000)
    assert big_size - small_size > 2_000_000
    assert big_peak < small_peak + 400_000, (small_peak, big_peak)


async def test_csv_neutralises_every_dangerous_start() -> None:
    async def rows() -> AsyncIterator[tuple[object, ...]]:
        for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "safe", "a=b"):
            yield (text,)

    body = b"".join([c async for c in streaming.csv_chunks((Column("t", "Title"),), rows(), people=False)])
    assert body.startswith(b"\xef\xbb\xbf")
    cells = [row[0] for row in csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))][1:]
    assert cells == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "safe", "a=b"]


async def test_xlsx_continues_on_a_new_sheet_past_the_row_limit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(streaming, "XLSX_MAX_ROWS", 3)  # header + 2 rows per sheet
    body = b"".join([c async for c in streaming.xlsx_chunks(COLUMNS, _many(5), sheet_title="data",
                                                            right_to_left=True)])
    wb = load_workbook(io.BytesIO(body))
    assert wb.sheetnames == ["data", "data-2", "data-3"]
    counts = [ws.max_row for ws in wb.worksheets]
    assert counts == [3, 3, 2] and all(ws.sheet_view.rightToLeft for ws in wb.worksheets)
    assert [ws.cell(1, 2).value for ws in wb.worksheets] == ["العنوان"] * 3  # "Title", in Arabic
    assert wb.worksheets[1].cell(2, 2).value == "'=cell 2"


async def test_a_body_secretary_exports_only_the_lists_of_their_body(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    """A body_secretary grant for body:body_youth (issue #6, item 1): petitions and consultations (with their
    proposals and comments) addressed to that body only; no association list, no personal data."""
    council = await seeded(session, keys)
    youth = await seeded(session, keys)
    await session.execute(update(Petition).where(Petition.id == youth).values(addressed_to="body_youth"))
    ids = await consultation_data(session)  # addressed to the council
    await sign_in(client, session, "citizen", 5)
    secretary = await session.scalar(select(User.id).where(User.email == "citizen5@test.invalid"))
    admin = await make_user(session, 6, "admin")
    session.add(RoleGrant(user_id=secretary, role="body_secretary", scope="body:body_youth", granted_by=admin.user_id,
                          granted_at=NOW))
    await session.commit()

    items = json.loads((await client.get("/staff/exports/petitions.json")).content)
    assert [i["id"] for i in items] == [youth] and council not in [i["id"] for i in items]
    assert json.loads((await client.get("/staff/exports/consultations.json")).content) == []
    assert json.loads((await client.get("/staff/exports/proposals.json",
                                        params={"consultation_id": ids["consultation"]})).content) == []
    assert csv_rows((await client.get("/staff/exports/comments.csv")).content)[1:] == []
    event = (await audit_events(session))[-1]
    assert json.loads(event.detail)["filters"] == {"addressed_to": ["body_youth"]}
    for path in ("/staff/exports/organisations.csv", f"/staff/exports/signatures.csv?petition_id={youth}",
                 f"/staff/exports/registrations.csv?meeting_id={ids['meeting']}"):
        assert (await client.get(path)).status_code == 403, path
    page = await client.get("/staff/exports")
    assert page.status_code == 200
    assert "/staff/exports/petitions.csv" in page.text and "/staff/exports/organisations.csv" not in page.text
    assert "petition_id=" not in page.text and "meeting_id=" not in page.text  # no personal list
    assert f"consultation_id={ids['consultation']}" not in page.text  # the council's consultation is not theirs
