"""The petition state machine: every allowed transition, every forbidden one (role × state), submission
rules, the receipt, the bureau's deadline, the public timeline, notifications."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from civic.audit import AuditEvent, verify_chain
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.notifications.models import OutboxMessage
from civic.permissions import ANONYMOUS, SYSTEM
from civic.petitions import lifecycle, service
from civic.petitions.lifecycle import TRANSITIONS, TransitionInput, Who, add_months
from civic.petitions.models import STATUSES, Petition, PetitionEvent, Signature
from civic.settings import PetitionRules
from tests.conftest import NOW, make_user
from tests.test_petitions_service import BODY, TITLE, open_petition

RULES = PetitionRules()
FULL = TransitionInput(note="note", reasons="The matter is outside the council's competence.",
                       session_label="Ordinary session, March 2027", committee="Committee on transport",
                       answer="The council has added the matter to its agenda.")
PROVINCES = {"05.081": "05.081.01.01", "05.091": "05.091.01.01", "05.255": "05.255.01.05",
             "05.301": "05.301.01.01", "05.311": "05.311.01.07"}


async def seed_signatures(session, petition_id: int, per_province: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """Insert signatures directly (made-up hashes), quickly, for threshold tests."""
    rows, n, batch = [], 0, secrets.token_hex(4)
    for province, count in per_province.items():
        for _ in range(count):
            n += 1
            rows.append({"petition_id": petition_id, "user_id": None, "full_name": f"Signatory {n}",
                         "cnie_hmac": f"seed-{batch}-{n}", "cnie_encrypted": b"x",
                         "commune_code": PROVINCES[province], "province_code": province,
                         "electoral_declaration": True, "consent_at": NOW, "channel": "paper", "created_at": NOW,
                         "public_name": False})
    await session.execute(insert(Signature), rows)
    await session.commit()


async def set_status(session, petition_id: int, status: str) -> None:  # type: ignore[no-untyped-def]
    await session.execute(update(Petition).where(Petition.id == petition_id).values(status=status))
    await session.commit()


async def test_the_whole_road_to_an_answer(session) -> None:  # type: ignore[no-untyped-def]
    agent, deputy, staff = await make_user(session, 1), await make_user(session, 2), await make_user(
        session, 3, role="council_staff")
    pid = await open_petition(session, agent)
    await session.execute(update(Petition).where(Petition.id == pid).values(deputy_id=deputy.user_id))
    await session.commit()
    await seed_signatures(session, pid, {"05.081": 80, "05.091": 200, "05.255": 60, "05.301": 19, "05.311": 41})
    with pytest.raises(Conflict) as exc:  # 400 in all but Khénifra has 19 < 20
        await lifecycle.transition(session, agent, pid, "submitted", TransitionInput(), RULES, NOW)
    assert "province" in exc.value.message
    await seed_signatures(session, pid, {"05.301": 1})
    when = datetime(2026, 12, 31, 10, 0, tzinfo=UTC)
    await lifecycle.transition(session, deputy, pid, "submitted", TransitionInput(note="Filed"), RULES, when)
    p = await session.get(Petition, pid)
    await session.refresh(p)
    assert (p.status, p.submitted_count, p.receipt_number) == ("submitted", 401, f"05-2026-{pid:06d}")
    assert len(p.receipt_digest) == 64
    # 31 December + 2 months = end of 28 February 2027, Casablanca time
    assert p.examination_due_at.astimezone(lifecycle.i18n.TIMEZONE).strftime("%Y-%m-%d %H:%M") == "2027-02-28 23:59"
    await session.commit()
    await lifecycle.transition(session, staff, pid, "under_examination", TransitionInput(), RULES, when)
    with pytest.raises(Invalid) as bad:
        await lifecycle.transition(session, staff, pid, "admissible", TransitionInput(), RULES, when)
    assert set(bad.value.field_errors) == {"session_label"}
    await lifecycle.transition(session, staff, pid, "admissible", FULL, RULES, when)
    await lifecycle.transition(session, staff, pid, "answered", FULL, RULES, when)
    await lifecycle.transition(session, staff, pid, "closed", TransitionInput(), RULES, when)
    steps = await lifecycle.timeline(session, pid)
    assert [s.to_status for s in steps] == ["collecting", "submitted", "under_examination", "admissible",
                                            "answered", "closed"]
    assert steps[1].note == "Filed"
    proc = await lifecycle.procedure(session, pid)
    assert (proc.session_label, proc.committee, proc.answer) == (FULL.session_label, FULL.committee, FULL.answer)
    mails = (await session.scalars(select(OutboxMessage.purpose))).all()
    assert mails.count("petition:submitted") == 2  # agent and deputy (the author is the agent)
    assert await verify_chain(session) is None


async def test_inadmissible_needs_reasons_and_publishes_them(session) -> None:  # type: ignore[no-untyped-def]
    agent, staff = await make_user(session, 1), await make_user(session, 3, role="council_staff")
    pid = await open_petition(session, agent)
    await set_status(session, pid, "under_examination")
    with pytest.raises(Invalid):
        await lifecycle.transition(session, staff, pid, "inadmissible", TransitionInput(reasons="too short"),
                                   RULES, NOW)
    await lifecycle.transition(session, staff, pid, "inadmissible", FULL, RULES, NOW)
    steps = await lifecycle.timeline(session, pid)
    assert steps[-1].to_status == "inadmissible"
    assert (await lifecycle.procedure(session, pid)).decision_reasons == FULL.reasons


async def test_citizens_petition_needs_a_deputy_before_submission(session) -> None:  # type: ignore[no-untyped-def]
    agent = await make_user(session, 1)
    pid = await open_petition(session, agent)
    await seed_signatures(session, pid, dict.fromkeys(PROVINCES, 80))
    with pytest.raises(Conflict) as exc:
        await lifecycle.transition(session, agent, pid, "submitted", TransitionInput(), RULES, NOW)
    assert "deputy" in exc.value.message


async def test_expiry_only_after_the_collection_period(session) -> None:  # type: ignore[no-untyped-def]
    agent = await make_user(session, 1)
    pid = await open_petition(session, agent)
    assert await lifecycle.expire_due(session, SYSTEM, RULES, NOW + timedelta(days=364)) == 0
    assert await lifecycle.expire_due(session, SYSTEM, RULES, NOW + timedelta(days=366)) == 1
    p = await session.get(Petition, pid)
    await session.refresh(p)
    assert p.status == "expired" and p.ended_at is not None


ACTORS = ("agent", "deputy", "other", "staff", "anonymous")


def allowed(frm: str, to: str, who: str) -> bool:
    kind = TRANSITIONS.get((frm, to))
    if kind is None:
        return False
    if kind is Who.AGENT:  # a draft is private to its author, so only the author acts on it
        return who == "agent" if frm == "draft" else who in ("agent", "deputy")
    if kind is Who.STAFF:
        return who == "staff"
    return who != "anonymous"


async def test_role_by_state_grid(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """Every (from, to) pair for every actor: allowed ones succeed (or fail only on their documented data
    requirement), all others are refused with the right error."""
    async with sessionmaker() as s:
        agent, deputy, other = await make_user(s, 1), await make_user(s, 2), await make_user(s, 4)
        staff = await make_user(s, 3, role="council_staff")
    actors = {"agent": agent, "deputy": deputy, "other": other, "staff": staff, "anonymous": ANONYMOUS}
    later = NOW + timedelta(days=400)  # past the collection period, so expiry is possible
    checked = 0
    for frm, to in itertools.product(STATUSES, STATUSES):
        if frm == to:
            continue
        for who in ACTORS:
            async with sessionmaker() as s:
                pid = await service.create_petition(s, agent, service.PetitionDraft(TITLE, BODY, "council"), "05",
                                                    NOW)
                await lifecycle.transition(s, agent, pid, "collecting", TransitionInput(), RULES, NOW)
                await s.execute(update(Petition).where(Petition.id == pid).values(
                    status=frm, deputy_id=deputy.user_id,
                    published_at=None if frm == "draft" else NOW))  # a draft was never published
                await s.commit()
                when = NOW if to == "submitted" else later
                try:
                    await lifecycle.transition(s, actors[who], pid, to, FULL, RULES, when)
                    outcome = "ok"
                except NotSignedIn:
                    outcome = "anonymous"
                except (Forbidden, NotFound):
                    outcome = "forbidden"
                except Conflict as exc:
                    outcome = "threshold" if "threshold" in exc.message else "conflict"
                status = await s.scalar(select(Petition.status).where(Petition.id == pid))
            checked += 1
            if allowed(frm, to, who):
                expected = "threshold" if to == "submitted" else "ok"
                assert outcome == expected, (frm, to, who, outcome)
                assert status == (to if outcome == "ok" else frm)
            else:
                assert outcome in ("forbidden", "conflict", "anonymous"), (frm, to, who, outcome)
                assert status == frm, (frm, to, who)
                if who == "anonymous":
                    assert outcome == "anonymous"
    assert checked == len(STATUSES) * (len(STATUSES) - 1) * len(ACTORS)
    async with sessionmaker() as s:
        events = await s.scalar(select(func.count()).select_from(PetitionEvent))
        audits = await s.scalar(select(func.count()).select_from(AuditEvent))
    assert events and audits and audits > events


def test_add_months_clamps_and_keeps_local_day() -> None:
    jan31 = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    assert add_months(jan31, 1).astimezone(lifecycle.i18n.TIMEZONE).date().isoformat() == "2027-02-28"
    late = datetime(2026, 3, 18, 23, 30, tzinfo=UTC)  # 18 March UTC = 18 March Casablanca during Ramadan (UTC+0)
    assert add_months(late, 2).astimezone(lifecycle.i18n.TIMEZONE).date().isoformat() == "2026-05-18"
    evening = datetime(2026, 6, 10, 23, 30, tzinfo=UTC)  # already 11 June in Casablanca (UTC+1)
    assert add_months(evening, 2).astimezone(lifecycle.i18n.TIMEZONE).date().isoformat() == "2026-08-11"
