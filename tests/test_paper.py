"""Paper and assisted signatures: linked collectors only, dedup with online signatures, sheet imports
(CSV and XLSX, 1,000 rows with 50 bad ones), bad files, audit, and the pages through HTTP. Made-up identities."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import date, timedelta

import openpyxl
import pytest
from sqlalchemy import func, insert, select

from civic.audit import AuditEvent, verify_chain
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import translations
from civic.organisations.models import Organisation, OrganisationMember, PetitionCollector, PetitionOrganisation
from civic.permissions import ANONYMOUS, Actor
from civic.petitions import paper, service
from civic.petitions.models import Signature, SignatureFlag
from civic.petitions.paper import PaperOutcome, PaperSignatureInput, Reason
from tests.conftest import NOW, csrf_from, make_user
from tests.test_petitions_service import open_petition, signature

PASSWORD = "a long password"
COMMUNES = ["05.091.01.01", "05.081.01.01", "05.081.03.07", "05.301.01.01", "05.311.01.01", "05.255.01.05"]
HEADER = ["full_name", "cnie", "commune_code", "sheet_ref", "consent", "electoral_declaration"]


async def link(session, user: Actor, petition_id: int) -> None:  # type: ignore[no-untyped-def]
    """Make ``user`` a member of a new organisation and link them to the petition (direct inserts)."""
    org_id = (await session.execute(insert(Organisation).values(
        name_ar="جمعية تجريبية", name_fr="Association test", registration_ref=f"REC-{user.user_id}",
        founded_on=date(2015, 3, 21), seat_commune_code="05.301.01.01", activity="Activités de test.",
        legal_representative_id=user.user_id, status="verified", created_at=NOW,
    ).returning(Organisation.id))).scalar_one()
    await session.execute(insert(OrganisationMember).values(
        organisation_id=org_id, user_id=user.user_id, role="member", joined_at=NOW))
    await session.execute(insert(PetitionOrganisation).values(  # allowed by the petition's agent
        petition_id=petition_id, organisation_id=org_id, authorised_by_id=user.user_id, authorised_at=NOW))
    await session.execute(insert(PetitionCollector).values(
        petition_id=petition_id, user_id=user.user_id, organisation_id=org_id, added_by_id=user.user_id,
        added_at=NOW))
    await session.commit()


async def setup(session, n: int = 1):  # type: ignore[no-untyped-def]
    """An open petition and a collector linked to it."""
    author = await make_user(session, n)
    pid = await open_petition(session, author)
    collector = await make_user(session, n + 1, role="cso_member")
    await link(session, collector, pid)
    return pid, collector


def entry(cnie: str = "PA123456", **over: object) -> PaperSignatureInput:
    data: dict[str, object] = {"full_name": "Fatima Exemple", "cnie": cnie, "commune_code": "05.081.01.01",
                               "sheet_ref": "F-001", "consent": True, "electoral_declaration": True,
                               "channel": "paper"}
    data.update(over)
    return PaperSignatureInput(**data)  # type: ignore[arg-type]


async def count(session, pid: int) -> int:  # type: ignore[no-untyped-def]
    """Signatures of the petition (the read's transaction is ended, so services can begin theirs)."""
    n = int(await session.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid)))
    await session.commit()
    return n


# --- one signature -------------------------------------------------------------------------------------------


async def test_collector_enters_a_paper_and_an_assisted_signature(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    later = NOW + timedelta(minutes=5)
    assert await paper.enter_signature(session, collector, keys, pid, entry(), NOW) is PaperOutcome.ACCEPTED
    assisted = entry("pb 654 321", channel="assisted", sheet_ref="Consent form 7")
    assert await paper.enter_signature(session, collector, keys, pid, assisted, later) is PaperOutcome.ACCEPTED
    rows = (await session.execute(select(Signature).order_by(Signature.id))).scalars().all()
    assert [(r.channel, r.user_id, r.entered_by_id, r.paper_sheet_ref, r.province_code) for r in rows] == [
        ("paper", None, collector.user_id, "F-001", "05.081"),
        ("assisted", None, collector.user_id, "Consent form 7", "05.081"),
    ]
    assert rows[1].consent_at == later and keys.decrypt_cnie(rows[1].cnie_encrypted) == "PB654321"
    events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "signatures:enter_paper")
                                    .order_by(AuditEvent.id))).all()
    assert [(e.actor_id, e.subject_id, json.loads(e.detail)["sheet_ref"]) for e in events] == [
        (collector.user_id, str(pid), "F-001"), (collector.user_id, str(pid), "Consent form 7")]
    assert not any("PA123456" in e.detail or "PB654321" in e.detail for e in events)
    page = await paper.collector_page(session, collector, pid, NOW)
    assert page.entered_count == 2 and [e.sheet_ref for e in page.recent] == ["Consent form 7", "F-001"]
    assert await verify_chain(session) is None


async def test_citizens_and_unlinked_members_are_forbidden(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, _collector = await setup(session)
    other_pid, _other_collector = await setup(session, 10)
    unlinked = await make_user(session, 20, role="cso_member")
    await link(session, unlinked, other_pid)  # linked, but to another petition
    citizen = await make_user(session, 21)
    staff = await make_user(session, 22, role="council_staff")
    sheet = make_csv([HEADER, ["Nadia Exemple", "QA1", "05.091.01.01", "F-1", "yes", "yes"]])
    for actor in (unlinked, citizen, staff):
        with pytest.raises(Forbidden):
            await paper.enter_signature(session, actor, keys, pid, entry(), NOW)
        with pytest.raises(Forbidden):
            await paper.import_sheet(session, actor, keys, pid, "s.csv", sheet, NOW)
        with pytest.raises(Forbidden):
            await paper.collector_page(session, actor, pid, NOW)
    with pytest.raises(NotSignedIn):
        await paper.enter_signature(session, ANONYMOUS, keys, pid, entry(), NOW)
    with pytest.raises(NotFound):
        await paper.enter_signature(session, unlinked, keys, 999_999, entry(), NOW)
    assert await count(session, pid) == 0


async def test_closed_or_expired_petitions_refuse_entries(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    with pytest.raises(Conflict):
        await paper.enter_signature(session, collector, keys, pid, entry(), NOW + timedelta(days=366))
    sheet = make_csv([HEADER, ["Nadia Exemple", "QA1", "05.091.01.01", "F-1", "yes", "yes"]])
    with pytest.raises(Conflict):
        await paper.import_sheet(session, collector, keys, pid, "s.csv", sheet, NOW + timedelta(days=366))
    assert not (await paper.collector_page(session, collector, pid, NOW + timedelta(days=366))).petition.open
    assert await count(session, pid) == 0


async def test_bad_fields_are_refused_per_field(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    bad = entry("12", full_name=" ", commune_code="01.511.01.0", sheet_ref="", consent=False,
                electoral_declaration=False, channel="online")
    with pytest.raises(Invalid) as exc:
        await paper.enter_signature(session, collector, keys, pid, bad, NOW)
    assert set(exc.value.field_errors) == {"full_name", "cnie", "commune_code", "sheet_ref", "consent",
                                           "electoral_declaration", "channel"}
    with pytest.raises(Invalid) as exc:
        await paper.enter_signature(session, collector, keys, pid, entry(sheet_ref="x" * 101), NOW)
    assert set(exc.value.field_errors) == {"sheet_ref"}
    assert await count(session, pid) == 0


async def test_paper_and_online_signatures_are_deduplicated_both_ways(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    online = await make_user(session, 30)
    assert await service.sign(session, online, keys, pid, signature("OA111111"), NOW) is service.SignOutcome.SIGNED
    # signed online, then entered on paper: duplicate
    again = await paper.enter_signature(session, collector, keys, pid, entry("oa 111111"), NOW)
    assert again is PaperOutcome.DUPLICATE
    # entered on paper, then signed online: not counted twice (answered alike, flagged for staff)
    assert await paper.enter_signature(session, collector, keys, pid, entry("OB222222"), NOW) is PaperOutcome.ACCEPTED
    later = await make_user(session, 31)
    assert await service.sign(session, later, keys, pid, signature("ob222222"), NOW) is service.SignOutcome.SIGNED
    assert await count(session, pid) == 2
    flags = (await session.scalars(select(SignatureFlag.user_id))).all()
    assert flags == [later.user_id]
    await session.commit()
    # and an import finds both as duplicates
    sheet = make_csv([HEADER, ["A B", "OA111111", "05.091.01.01", "F-9", "yes", "yes"],
                      ["C D", "OB222222", "05.091.01.01", "F-9", "yes", "yes"]])
    report = await paper.import_sheet(session, collector, keys, pid, "again.csv", sheet, NOW)
    assert report.accepted_count == 0 and [r.reasons for r in report.rows] == [(Reason.DUPLICATE,)] * 2
    assert await count(session, pid) == 2


# --- imports -----------------------------------------------------------------------------------------------------


def make_csv(rows: list[list[str]], delimiter: str = ",", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode()


def make_xlsx(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def thousand_rows() -> tuple[list[list[str]], dict[int, Reason]]:
    """1,000 data rows, 50 of them bad (malformed CNIE, duplicate in the file, commune outside the region,
    missing consent); returns the rows with the header and the expected reason by sheet row number."""
    rows = [["Full_Name", "CNIE", "commune code", "Sheet_Ref", "consent", "Electoral-Declaration"]]  # any case
    expected: dict[int, Reason] = {}
    yes = ["yes", "oui", "نعم", "1", "TRUE", "Yes"]
    for i in range(1000):
        sheet_row = i + 2
        cnie = f"R{i:06d}"
        row = [f"Signataire Exemple {i}", cnie, COMMUNES[i % len(COMMUNES)], f"F-{i // 25:03d}", yes[i % 6], "yes"]
        if i % 20 == 19:  # 50 bad rows: 19, 39, ..., 999
            kind = (i // 20) % 4
            if kind == 0:
                row[1] = ["12345", "ABC123", "A1234567", ""][(i // 80) % 4]
                expected[sheet_row] = Reason.MALFORMED_CNIE
            elif kind == 1:
                row[1] = f"r {i - 3:06d}".lower()  # the same person as 3 rows higher, written differently
                expected[sheet_row] = Reason.DUPLICATE
            elif kind == 2:
                row[2] = ["01.511.01.0", "99.999.99.99", ""][(i // 80) % 3]
                expected[sheet_row] = Reason.COMMUNE_OUTSIDE_REGION
            else:
                row[4] = ["no", "", "non", "لا", "maybe"][(i // 80) % 5]
                expected[sheet_row] = Reason.MISSING_CONSENT
        rows.append(row)
    return rows, expected


FORMATS = {
    "csv": ("signatures.csv", lambda rows: make_csv(rows)),
    "csv-semicolon-bom": ("signatures.CSV", lambda rows: make_csv(rows, ";", bom=True)),
    "xlsx": ("signatures.xlsx", make_xlsx),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_import_of_1000_rows_with_50_bad_ones(session, keys, fmt) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    rows, expected = thousand_rows()
    assert len(rows) == 1001 and len(expected) == 50
    filename, build = FORMATS[fmt]
    content = build(rows)
    started = time.perf_counter()
    report = await paper.import_sheet(session, collector, keys, pid, filename, content, NOW)
    elapsed = time.perf_counter() - started
    print(f"\n1,000-row {fmt} import: {elapsed:.2f} s")
    assert elapsed < 10
    assert (report.accepted_count, report.rejected_count) == (950, 50)
    assert {r.row: r.reasons for r in report.rejected} == {row: (reason,) for row, reason in expected.items()}
    assert [r.row for r in report.rows] == list(range(2, 1002))
    assert await count(session, pid) == 950
    stored = (await session.execute(select(Signature.channel, Signature.entered_by_id, Signature.user_id)
                                    .where(Signature.petition_id == pid).distinct())).all()
    assert stored == [("paper", collector.user_id, None)]
    events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "signatures:import_paper"))).all()
    assert len(events) == 1
    detail = json.loads(events[0].detail)
    assert (detail["filename"], detail["accepted"], detail["rejected"], detail["duplicates"]) == (
        filename, 950, 50, 13)
    assert "F-000" in detail["sheet_refs"] and not re.search(r"R\d{6}", events[0].detail)
    await session.commit()
    # the same file again: nothing new
    again = await paper.import_sheet(session, collector, keys, pid, filename, content, NOW)
    assert again.accepted_count == 0 and again.rejected_count == 1000
    assert sum(1 for r in again.rows if r.reasons == (Reason.DUPLICATE,)) == 950 + 13
    assert await count(session, pid) == 950
    assert await verify_chain(session) is None


async def test_every_reason_is_reported(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    rows = [HEADER,
            ["Ok Exemple", "S1", "05.091.01.01", "F-1", "oui", "نعم"],
            ["", "S2", "05.091.01.01", "F-1", "yes", "yes"],
            ["x" * 151, "S3", "05.091.01.01", "F-1", "yes", "yes"],
            ["Bad Cnie", "S-3", "05.091.01.01", "F-1", "yes", "yes"],
            ["Far Away", "S4", "01.511.01.0", "F-1", "yes", "yes"],
            ["No Sheet", "S5", "05.091.01.01", " ", "yes", "yes"],
            ["No Consent", "S6", "05.091.01.01", "F-1", "0", "yes"],
            ["No Lists", "S7", "05.091.01.01", "F-1", "yes", "false"],
            ["", "", "", "", "", ""],  # a blank row is skipped, numbering goes on
            ["Twice", "s 1", "05.091.01.01", "F-2", "1", "1"],
            ["", "bad", "nowhere", "", "no", "no"]]
    report = await paper.import_sheet(session, collector, keys, pid, "reasons.csv", make_csv(rows), NOW)
    assert [(r.row, r.reasons) for r in report.rows] == [
        (2, ()), (3, (Reason.MISSING_NAME,)), (4, (Reason.NAME_TOO_LONG,)), (5, (Reason.MALFORMED_CNIE,)),
        (6, (Reason.COMMUNE_OUTSIDE_REGION,)), (7, (Reason.MISSING_SHEET_REF,)), (8, (Reason.MISSING_CONSENT,)),
        (9, (Reason.MISSING_ELECTORAL_DECLARATION,)), (11, (Reason.DUPLICATE,)),
        (12, (Reason.MISSING_NAME, Reason.MALFORMED_CNIE, Reason.COMMUNE_OUTSIDE_REGION, Reason.MISSING_SHEET_REF,
              Reason.MISSING_CONSENT, Reason.MISSING_ELECTORAL_DECLARATION)),
    ]
    assert await count(session, pid) == 1


def _too_many() -> bytes:
    return make_csv([HEADER] + [["N", f"T{i}", "05.091.01.01", "F", "yes", "yes"] for i in range(5001)])


@pytest.mark.parametrize(("filename", "content", "missing"), [
    ("missing.csv", make_csv([["full_name", "CNIE", "commune_code"], ["N", "M1", "05.091.01.01"]]),
     ("sheet_ref", "consent", "electoral_declaration")),
    ("missing.xlsx", make_xlsx([["full_name", "cnie", "commune_code", "sheet_ref", "consent"],
                                ["N", "M1", "05.091.01.01", "F", "yes"]]), ("electoral_declaration",)),
    ("latin1.csv", "full_name,cnie\nRené,M1\n".encode("latin-1"), ()),
    ("scan.pdf", b"%PDF-1.4 not a sheet", ()),
    ("broken.xlsx", b"PK\x03\x04 not really a zip archive", ()),
    ("empty.csv", b"", ()),
    ("header-only.csv", make_csv([HEADER]), ()),
    ("too-many.csv", _too_many(), ()),
    ("binary.csv", b"full_name\x00cnie", ()),
])
async def test_bad_files_are_refused_and_nothing_is_saved(session, keys, filename, content, missing) -> None:  # type: ignore[no-untyped-def]
    pid, collector = await setup(session)
    with pytest.raises(paper.BadSheet) as exc:
        await paper.import_sheet(session, collector, keys, pid, filename, content, NOW)
    assert isinstance(exc.value, Invalid) and exc.value.field_errors["file"]
    assert exc.value.missing_columns == missing
    assert await count(session, pid) == 0
    assert await session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "signatures:import_paper")) == 0


async def test_electoral_column_is_optional_when_the_petition_does_not_require_it(session, keys) -> None:  # type: ignore[no-untyped-def]
    from civic.petitions.models import Petition
    pid, collector = await setup(session)
    petition = await session.get(Petition, pid)
    petition.require_electoral_registration = False
    await session.commit()
    sheet = make_csv([HEADER[:5], ["Sans Liste", "E1", "05.311.01.01", "F-1", "yes"]])
    report = await paper.import_sheet(session, collector, keys, pid, "C:\\Users\\x\\five.csv", sheet, NOW)
    assert report.accepted_count == 1 and report.filename == "five.csv"
    assert paper.template_csv(False).decode("utf-8-sig").splitlines()[0] == ",".join(HEADER[:5])


# --- through HTTP -----------------------------------------------------------------------------------------------


async def sign_in_collector(client, session, pid: int, email: str = "collector@test.invalid") -> Actor:  # type: ignore[no-untyped-def]
    from civic.accounts import service as accounts
    uid = await accounts.create_user(session, display_name="Collectrice", email=email, password=PASSWORD,
                                     role="cso_member", commune_code="05.091.01.01", now=NOW, region_code="05")
    actor = Actor(uid, "cso_member", "Collectrice")
    await link(session, actor, pid)
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303
    return actor


async def test_entry_page_without_javascript(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    await sign_in_collector(client, session, pid)
    page = await client.get(f"/petitions/{pid}/paper")
    assert page.status_code == 200 and 'name="sheet_ref"' in page.text and 'name="channel"' in page.text
    form = {"csrf_token": csrf_from(page.text), "channel": "assisted", "sheet_ref": "F-77",
            "full_name": "Zineb Exemple", "cnie": "zx 12", "commune_code": "05.301.01.01",
            "electoral_declaration": "y", "consent": "y"}
    r = await client.post(f"/petitions/{pid}/paper", data=form)
    assert r.status_code == 303
    shown = await client.get(r.headers["location"])
    assert 'role="status"' in shown.text and "<bdi>Zineb Exemple</bdi>" in shown.text
    assert 'value="F-77"' in shown.text and re.search(r'value="assisted"\s+checked', shown.text)
    bad = await client.post(f"/petitions/{pid}/paper", data={**form, "cnie": "123", "consent": ""})
    assert bad.status_code == 422
    for field in ("cnie", "consent"):
        assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error"', bad.text), field
    dup = await client.post(f"/petitions/{pid}/paper", data={**form, "cnie": "ZX12"}, headers={"HX-Request": "true"})
    assert dup.status_code == 303  # the browser (and htmx's XHR) follows it to the page, which htmx selects from
    shown = await client.get(dup.headers["location"], headers={"HX-Request": "true"})
    already = translations("ar").gettext(
        "Already signed: this person has already signed this petition, online or on paper. Nothing was added.")
    assert 'id="paper-area"' in shown.text and already in shown.text and "ZX12" not in shown.text
    assert await count(session, pid) == 1
    assert (await client.post(f"/petitions/{pid}/paper", data={**form, "csrf_token": ""})).status_code == 403


async def test_upload_through_the_page(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    await sign_in_collector(client, session, pid)
    page = await client.get(f"/petitions/{pid}/paper/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    token = csrf_from(page.text)
    template = await client.get(f"/petitions/{pid}/paper/template.csv")
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    assert template.content.startswith(b"\xef\xbb\xbf")
    lines = template.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(HEADER) and len(lines) == 2
    rows, _expected = thousand_rows()
    upload = {"file": ("paper.xlsx", make_xlsx(rows), "application/octet-stream")}
    r = await client.post(f"/petitions/{pid}/paper/import", data={"csrf_token": token}, files=upload)
    assert r.status_code == 200, r.text[:500]
    summary = translations("ar").gettext("%(accepted)s accepted, %(rejected)s rejected.") % {
        "accepted": 950, "rejected": 50}
    assert summary in r.text
    assert "<caption" in r.text and r.text.count('class="row-rejected"') == 50
    assert await count(session, pid) == 950
    missing = await client.post(f"/petitions/{pid}/paper/import", files=upload)
    assert missing.status_code == 403
    wrong = await client.post(f"/petitions/{pid}/paper/import", data={"csrf_token": "forged"}, files=upload)
    assert wrong.status_code == 403
    bad = await client.post(f"/petitions/{pid}/paper/import", data={"csrf_token": token},
                            files={"file": ("cols.csv", b"full_name,cnie\nA,B1\n", "text/csv")})
    assert bad.status_code == 422 and "<code>consent</code>" in bad.text
    assert re.search(r'id="file"[^>]*aria-describedby="file-hint file-error"', bad.text)
    assert await count(session, pid) == 950


async def test_large_csv_upload_passes_the_global_body_limit(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    await sign_in_collector(client, session, pid)
    token = csrf_from((await client.get(f"/petitions/{pid}/paper/import")).text)
    rows = [HEADER] + [[f"Nom Exemple Assez Long Pour Le Test {i}", f"L{i}", "05.091.01.01", f"Feuille {i}",
                        "yes", "yes"] for i in range(4000)]
    content = make_csv(rows)
    assert 256 * 1024 < len(content) < 2 * 1024 * 1024
    r = await client.post(f"/petitions/{pid}/paper/import", data={"csrf_token": token},
                          files={"file": ("big.csv", content, "text/csv")})
    assert r.status_code == 200 and await count(session, pid) == 4000
    too_big = b"x" * (2 * 1024 * 1024 + 1)
    r = await client.post(f"/petitions/{pid}/paper/import", data={"csrf_token": token},
                          files={"file": ("huge.csv", too_big, "text/csv")})
    assert r.status_code == 413
    # other routes keep the global limit
    r = await client.post(f"/petitions/{pid}/paper", data={"csrf_token": token, "full_name": "x" * 300_000})
    assert r.status_code == 413


async def test_pages_refuse_citizens_and_unlinked_members(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    other = await open_petition(session, author)
    await sign_in_collector(client, session, other, "elsewhere@test.invalid")  # linked to another petition
    for path in (f"/petitions/{pid}/paper", f"/petitions/{pid}/paper/import", f"/petitions/{pid}/paper/template.csv"):
        assert (await client.get(path)).status_code == 403, path
    token = csrf_from((await client.get("/")).text)
    r = await client.post(f"/petitions/{pid}/paper/import", data={"csrf_token": token},
                          files={"file": ("s.csv", make_csv([HEADER]), "text/csv")})
    assert r.status_code == 403
    await client.post("/logout", data={"csrf_token": token})
    anonymous = await client.get(f"/petitions/{pid}/paper")
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
