"""Dossier exports (PDF, XLSX, CSV; public and staff) and the receipt PDF, through the service and through HTTP.

The public versions must hold no personal data at all; the staff versions need council staff and are audited.
PDF text is read back with ``pdftotext`` (poppler-utils); it breaks the لا ligature, so no assertion here is on
an Arabic word containing it.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from civic.accounts import service as accounts
from civic.audit import AuditEvent
from civic.errors import Forbidden, NotFound, NotSignedIn
from civic.exports import dossier as dossiers
from civic.permissions import ANONYMOUS
from civic.petitions import service
from civic.petitions.models import Petition
from civic.settings import PetitionRules
from tests.conftest import NOW, csrf_from, make_user
from tests.test_petitions_service import BODY, TITLE, open_petition, signature

RULES = PetitionRules()
PASSWORD = "a long password"
# (CNIE, full name, commune): 3 in Khénifra, 2 in Azilal, 1 in Béni Mellal.
SIGNATORIES = [
    ("ZK1", '=HYPERLINK("x")', "05.301.01.01"),
    ("ZK22", "Zineb Secretname", "05.301.01.01"),
    ("QX333", "+Omar Plusname", "05.301.01.01"),
    ("QX4444", "@Sara Atname", "05.081.01.01"),
    ("QY55555", "زينب المخفية", "05.081.03.07"),
    ("QZ66666", "-Yassine Minusname", "05.091.01.01"),
]
SECRETS = [cnie for cnie, _n, _c in SIGNATORIES] + ["HYPERLINK", "Secretname", "Plusname", "Atname", "المخفية",
                                                     "Minusname", "@test.invalid"]


async def seeded(session, keys) -> int:  # type: ignore[no-untyped-def]
    """A collecting petition with six signatures in three provinces; its deputy is ``User 7``."""
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    for i, (cnie, name, commune) in enumerate(SIGNATORIES):
        signer = await make_user(session, 100 + i, commune=commune)
        outcome = await service.sign(session, signer, keys, pid, signature(cnie, commune, full_name=name), NOW)
        assert outcome is service.SignOutcome.SIGNED
    deputy = await make_user(session, 7)
    await session.execute(update(Petition).where(Petition.id == pid).values(deputy_id=deputy.user_id))
    await session.commit()
    return pid


async def submit_directly(session, pid: int) -> str:  # type: ignore[no-untyped-def]
    """Put the petition in ``submitted`` with a receipt, straight in the database (format tests only)."""
    number = f"05-2026-{pid:06d}"
    await session.execute(update(Petition).where(Petition.id == pid).values(
        status="submitted", receipt_number=number, receipt_digest="ab" * 32, submitted_at=NOW,
        submitted_count=6, examination_due_at=NOW + timedelta(days=61)))
    await session.commit()
    return number


async def sign_in(client, session, role: str, n: int) -> None:  # type: ignore[no-untyped-def]
    email = f"{role}{n}@test.invalid"
    await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD, role=role,
                               commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303


def pdf_text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return " ".join(out.decode("utf-8").split())


def workbook_strings(content: bytes) -> str:
    wb = load_workbook(io.BytesIO(content))
    return "\n".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                     if c.value is not None)


async def export_actions(session) -> list[str]:  # type: ignore[no-untyped-def]
    actions = list((await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())
    await session.commit()  # end the read, so the app's next write is not kept waiting (SQLite)
    return actions


# --- service ---------------------------------------------------------------------------------------------


async def test_public_dossier_has_counts_and_no_personal_data(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    d = await dossiers.dossier(session, ANONYMOUS, keys, pid, NOW, personal=False, rules=RULES, region_code="05")
    assert {p.code: p.count for p in d.provinces} == {"05.081": 2, "05.091": 1, "05.255": 0, "05.301": 3,
                                                      "05.311": 0}
    assert (d.total, d.rules.threshold, d.rules.province_minimum) == (6, 400, 20)
    assert not d.threshold_met and not d.spread_met
    assert (d.agent_name, d.deputy_name, d.title, d.receipt) == ("User 1", "User 7", TITLE, None)
    assert d.signatures == () and not d.personal
    assert "signatures:export_personal" not in await export_actions(session)


async def test_personal_dossier_is_for_staff_only_and_audited(session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    citizen = await make_user(session, 2)
    with pytest.raises(NotSignedIn):
        await dossiers.dossier(session, ANONYMOUS, keys, pid, NOW, personal=True, rules=RULES, region_code="05")
    with pytest.raises(Forbidden):
        await dossiers.dossier(session, citizen, keys, pid, NOW, personal=True, rules=RULES, region_code="05")
    assert "signatures:export_personal" not in await export_actions(session)
    staff = await make_user(session, 3, role="council_staff")
    d = await dossiers.dossier(session, staff, keys, pid, NOW, personal=True, rules=RULES, region_code="05")
    assert [(s.cnie, s.full_name) for s in d.signatures] == [(c, n) for c, n, _ in SIGNATORIES]
    assert (await export_actions(session))[-1] == "signatures:export_personal"


async def test_drafts_are_not_found_for_others(session, keys) -> None:  # type: ignore[no-untyped-def]
    author, other = await make_user(session, 1), await make_user(session, 2)
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    with pytest.raises(NotFound):
        await dossiers.dossier(session, other, keys, pid, NOW, personal=False, rules=RULES, region_code="05")
    with pytest.raises(NotFound):
        await dossiers.receipt(session, ANONYMOUS, pid, RULES)
    own = await dossiers.dossier(session, author, keys, pid, NOW, personal=False, rules=RULES, region_code="05")
    assert own.status == "draft"
    with pytest.raises(NotFound):
        await dossiers.dossier(session, author, keys, 999_999, NOW, personal=False, rules=RULES, region_code="05")


# --- public downloads --------------------------------------------------------------------------------------


async def test_public_pdf_shows_counts_rules_and_credit_but_no_personal_data(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    r = await client.get(f"/petitions/{pid}/dossier.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="petition-{pid}-dossier.pdf"'
    text = pdf_text(r.content)
    assert "خنيفرة" in text and "خريبكة" in text and ("111.14" in text or "111-14" in text)
    assert "HCP, RGPH 2024" in text and "CC BY 4.0" in text
    assert not [s for s in SECRETS if s in text]
    client.cookies.set("civic_lang", "fr")
    text = pdf_text((await client.get(f"/petitions/{pid}/dossier.pdf")).content)
    for row in ("Khénifra 3 20", "Azilal 2 20", "Béni Mellal 1 20", "Khouribga 0 20", "Fquih Ben Salah 0 20"):
        assert row in text
    assert "6 400" in text and "User 1" in text and "User 7" in text and TITLE in text
    assert not [s for s in SECRETS if s in text]


async def test_public_xlsx_is_rtl_in_arabic_neutralised_and_without_personal_data(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    await session.execute(update(Petition).where(Petition.id == pid).values(title="=cmd|'/c calc'!A1 pétition"))
    await session.commit()
    r = await client.get(f"/petitions/{pid}/dossier.xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["content-disposition"] == f'attachment; filename="petition-{pid}-dossier.xlsx"'
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["petition", "provinces"]
    assert all(ws.sheet_view.rightToLeft for ws in wb.worksheets)
    assert all(cell.font.b for ws in wb.worksheets for cell in ws[1])
    facts = {row[0]: row[1] for row in wb["petition"].iter_rows(min_row=2, values_only=True)}
    assert "'=cmd|'/c calc'!A1 pétition" in facts.values()
    provinces = list(wb["provinces"].iter_rows(min_row=2, values_only=True))
    assert [(code, name, n, minimum) for code, name, n, minimum, _met in provinces[:5]] == [
        ("05.081", "أزيلال", 2, 20), ("05.091", "بني ملال", 1, 20), ("05.255", "الفقيه بن صالح", 0, 20),
        ("05.301", "خنيفرة", 3, 20), ("05.311", "خريبكة", 0, 20)]
    assert provinces[5][2:4] == (6, 400)
    assert not [s for s in SECRETS if s in workbook_strings(r.content)]
    client.cookies.set("civic_lang", "fr")  # the language follows into the rendering thread
    wb = load_workbook(io.BytesIO((await client.get(f"/petitions/{pid}/dossier.xlsx")).content))
    assert not any(ws.sheet_view.rightToLeft for ws in wb.worksheets)
    assert next(wb["provinces"].iter_rows(min_row=2, values_only=True))[1] == "Azilal"


async def test_public_csv_has_counts_with_a_bom_and_no_personal_data(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    r = await client.get(f"/petitions/{pid}/dossier.csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 7
    assert rows[4][:4] == ["05.301", "خنيفرة", "3", "20"] and rows[6][2:4] == ["6", "400"]
    assert not [s for s in SECRETS if s in r.text]


@pytest.mark.parametrize("path", [
    "/petitions/{pid}/dossier.doc", "/petitions/{pid}/dossier.", "/staff/petitions/{pid}/dossier.html",
    "/petitions/2147483648/dossier.pdf", "/petitions/999999/dossier.csv", "/petitions/999999/receipt.pdf",
    "/staff/petitions/2147483648/dossier.pdf",
])
async def test_unknown_formats_and_petitions_are_404(client, session, keys, path) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await open_petition(session, author)
    r = await client.get(path.format(pid=pid))
    assert r.status_code == 404 and 'lang="ar"' in r.text


async def test_a_draft_dossier_is_404_for_anonymous(client, session) -> None:  # type: ignore[no-untyped-def]
    author = await make_user(session, 1)
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, "council"), "05", NOW)
    for fmt in ("pdf", "xlsx", "csv"):
        assert (await client.get(f"/petitions/{pid}/dossier.{fmt}")).status_code == 404


# --- staff downloads ---------------------------------------------------------------------------------------


async def test_staff_dossier_needs_council_staff(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    for fmt in ("pdf", "xlsx", "csv"):
        r = await client.get(f"/staff/petitions/{pid}/dossier.{fmt}")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    await sign_in(client, session, "citizen", 1)
    for fmt in ("pdf", "xlsx", "csv"):
        r = await client.get(f"/staff/petitions/{pid}/dossier.{fmt}")
        assert r.status_code == 403 and 'lang="ar"' in r.text
    assert "signatures:export_personal" not in await export_actions(session)


async def test_staff_dossier_lists_signatures_and_each_export_is_audited(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    await sign_in(client, session, "council_staff", 1)

    r = await client.get(f"/staff/petitions/{pid}/dossier.pdf")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"] == f'attachment; filename="petition-{pid}-dossier-personal.pdf"'
    text = pdf_text(r.content)
    assert all(cnie in text for cnie, _n, _c in SIGNATORIES)
    assert "Zineb Secretname" in text and "المخفية" in text
    assert (await export_actions(session))[-1] == "signatures:export_personal"

    r = await client.get(f"/staff/petitions/{pid}/dossier.xlsx")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["petition", "provinces", "signatures"] and wb["signatures"].sheet_view.rightToLeft
    rows = list(wb["signatures"].iter_rows(min_row=2, values_only=True))
    assert [(row[0], row[2], row[3]) for row in rows] == [
        (1, "'=HYPERLINK(\"x\")", "ZK1"), (2, "Zineb Secretname", "ZK22"), (3, "'+Omar Plusname", "QX333"),
        (4, "'@Sara Atname", "QX4444"), (5, "زينب المخفية", "QY55555"), (6, "'-Yassine Minusname", "QZ66666")]
    assert rows[0][4] and rows[0][5] == "خنيفرة"

    r = await client.get(f"/staff/petitions/{pid}/dossier.csv")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[3] for row in rows[1:]] == [cnie for cnie, _n, _c in SIGNATORIES]
    assert rows[1][2] == "'=HYPERLINK(\"x\")"
    assert (await export_actions(session)).count("signatures:export_personal") == 3


# --- receipt -----------------------------------------------------------------------------------------------


async def test_receipt_is_409_before_submission_then_a_pdf(client, session, keys) -> None:  # type: ignore[no-untyped-def]
    pid = await seeded(session, keys)
    r = await client.get(f"/petitions/{pid}/receipt.pdf")
    assert r.status_code == 409 and 'lang="ar"' in r.text and "Traceback" not in r.text
    number = await submit_directly(session, pid)
    r = await client.get(f"/petitions/{pid}/receipt.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="petition-{pid}-receipt.pdf"'
    text = pdf_text(r.content)
    assert number in text and "ab" * 32 in re.sub(r"[\s\u202a-\u202e]", "", text) and TITLE in text
    assert not [s for s in SECRETS if s in text]
    client.cookies.set("civic_lang", "fr")
    text = pdf_text((await client.get(f"/petitions/{pid}/receipt.pdf")).content)
    assert number in text and "20 nov. 2026, 11:00" in text and "20 janvier 2027" in text
    # The dossier now carries the receipt too.
    text = pdf_text((await client.get(f"/petitions/{pid}/dossier.pdf")).content)
    assert number in text
    wb = load_workbook(io.BytesIO((await client.get(f"/petitions/{pid}/dossier.xlsx")).content))
    assert number in [row[1] for row in wb["petition"].iter_rows(min_row=2, values_only=True)]
