"""The role × action matrix (issue #6, item 1): every Action for every kind of actor, written out by hand (not
recomputed from MATRIX), scoped roles (a youth-body secretary cannot examine a petition addressed to the
gender-equality body), blocked users, and grants loaded from the database, revoked grants included.
The README's matrix is checked against civic.permissions.matrix_markdown()."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from civic.accounts import roles
from civic.accounts.models import User
from civic.accounts.service import actor_for_session
from civic.errors import Forbidden
from civic.moderation.models import UserBlock
from civic.organisations import service as orgs
from civic.permissions import (
    ANONYMOUS,
    BLOCKED_MESSAGE,
    MATRIX,
    Action,
    Actor,
    addressees_for,
    can,
    can_somewhere,
    in_scope,
    matrix_markdown,
    scopes_for,
)
from civic.petitions import lifecycle, service
from civic.petitions.models import Petition
from civic.settings import PetitionRules
from tests.conftest import NOW, make_user
from tests.test_organisations_and_rights import ALL_CHECKS, registered
from tests.test_petitions_service import BODY, TITLE, open_petition, signature

RULES = PetitionRules()
ORG = 7
ME = 500  # the actor's id in the table below (no database)
BLOCK_END = NOW + timedelta(days=7)

# Columns: who acts. Scoped actors are citizens with one grant; "blocked" is a citizen blocked until BLOCK_END;
# "admin_grant" a citizen holding an unscoped admin grant (works like users.role = admin).
COLUMNS: dict[str, Actor] = {
    "anonymous": ANONYMOUS,
    "citizen": Actor(ME, "citizen"),
    "cso_member": Actor(ME, "cso_member"),
    "moderator": Actor(ME, "moderator"),
    "council_staff": Actor(ME, "council_staff"),
    "admin": Actor(ME, "admin"),
    "sec_council": Actor(ME, "citizen", grants=frozenset({("body_secretary", "body:council")})),
    "sec_equality": Actor(ME, "citizen", grants=frozenset({("body_secretary", "body:body_equality")})),
    "sec_youth": Actor(ME, "citizen", grants=frozenset({("body_secretary", "body:body_youth")})),
    "sec_economic": Actor(ME, "citizen", grants=frozenset({("body_secretary", "body:body_economic")})),
    "cso_org": Actor(ME, "citizen", grants=frozenset({("cso_member", f"organisation:{ORG}")})),
    "blocked": Actor(ME, "citizen", blocked_until=BLOCK_END),
    "admin_grant": Actor(ME, "citizen", grants=frozenset({("admin", "")})),
}

# Expected answers for a subject addressed to the youth body, collected for by organisation 7, written by the
# actor, in an open phase whose flags are all on. Y: allowed, .: refused; one character per column above.
EXPECTED = """
action                     anon cit cso mod stf adm s:co s:eq s:yo s:ec o:7 blk adg
petitions:create            .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   Y   Y
petitions:publish           .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   Y   Y
petitions:sign              .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
petitions:examine           .    .   .   .   Y   Y   .    .    Y    .    .   .   Y
petitions:collect           .    .   Y   .   .   .   .    .    .    .    Y   .   .
signatures:view_personal    .    .   .   .   Y   Y   .    .    .    .    .   .   Y
exports:personal            .    .   .   .   Y   Y   .    .    .    .    .   .   Y
exports:lists               .    .   .   .   Y   Y   .    .    Y    .    .   .   Y
organisations:register      .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   Y   Y
organisations:verify        .    .   .   .   Y   Y   .    .    .    .    .   .   Y
notifications:view_outbox   .    .   .   .   .   Y   .    .    .    .    .   .   Y
consultations:manage        .    .   .   .   Y   Y   .    .    Y    .    .   .   Y
meetings:register           .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
meetings:manage             .    .   .   .   Y   Y   .    .    Y    .    .   .   Y
proposals:create            .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
proposals:edit              .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   Y   Y
proposals:withdraw          .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   Y   Y
proposals:support           .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
proposals:unsupport         .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
comments:create             .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
proposals:answer            .    .   .   .   Y   Y   .    .    Y    .    .   .   Y
votes:cast                  .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
reports:create              .    Y   Y   Y   Y   Y   Y    Y    Y    Y    Y   .   Y
moderation:hide             .    .   .   Y   Y   Y   .    .    .    .    .   .   Y
moderation:block            .    .   .   Y   .   Y   .    .    .    .    .   .   Y
roles:grant                 .    .   .   .   .   Y   .    .    .    .    .   .   Y
audit:view                  .    .   .   .   .   Y   .    .    .    .    .   .   Y
"""


def _expected() -> dict[str, dict[str, bool]]:
    lines = [line.split() for line in EXPECTED.strip().splitlines()[1:]]
    return {cells[0]: dict(zip(COLUMNS, (c == "Y" for c in cells[1:]), strict=True)) for cells in lines}


@dataclass(frozen=True)
class Subject:
    """Anything ``can`` may be given: a petition, a consultation, a phase, a proposal all at once."""

    author_id: int | None = ME
    addressed_to: str = "body_youth"
    organisation_ids: tuple[int, ...] = (ORG,)
    starts_at: datetime = NOW - timedelta(days=1)
    ends_at: datetime = NOW + timedelta(days=1)
    proposals_enabled: bool = True
    supports_enabled: bool = True
    comments_enabled: bool = True
    votes_enabled: bool = True


def test_the_table_covers_every_action_and_every_role() -> None:
    assert set(_expected()) == {a.value for a in Action}
    covered = {a.role for a in COLUMNS.values()} | {r for a in COLUMNS.values() for r, _s in a.grants}
    assert covered >= set(MATRIX[Action.PETITION_CREATE]) | {"body_secretary"}


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_every_action_for_every_actor(action: Action) -> None:
    expected = _expected()[action.value]
    got = {name: can(actor, action, Subject(), NOW) for name, actor in COLUMNS.items()}
    assert got == expected


BODY_ACTIONS = (Action.PETITION_EXAMINE, Action.PROPOSAL_ANSWER, Action.CONSULTATION_MANAGE, Action.MEETING_MANAGE,
                Action.EXPORTS_LISTS)


@pytest.mark.parametrize("action", BODY_ACTIONS, ids=lambda a: a.value)
def test_a_body_secretary_acts_only_for_their_body(action: Action) -> None:
    youth, equality = COLUMNS["sec_youth"], COLUMNS["sec_equality"]
    to_equality, to_youth = Subject(addressed_to="body_equality"), Subject(addressed_to="body_youth")
    assert not can(youth, action, to_equality, NOW)  # issue #6: the youth body's secretary, a gender-equality item
    assert can(youth, action, to_youth, NOW)
    assert can(equality, action, to_equality, NOW) and not can(equality, action, to_youth, NOW)
    assert not can(youth, action, None, NOW)  # a scoped grant allows nothing without a subject
    assert can(COLUMNS["council_staff"], action, to_equality, NOW) and can(COLUMNS["council_staff"], action)


def test_a_cso_member_grant_works_only_for_its_organisations_petitions() -> None:
    member = COLUMNS["cso_org"]
    assert can(member, Action.PETITION_COLLECT, Subject(organisation_ids=(3, ORG)), NOW)
    assert not can(member, Action.PETITION_COLLECT, Subject(organisation_ids=(3,)), NOW)
    assert not can(member, Action.PETITION_COLLECT, None, NOW)

    @dataclass(frozen=True)
    class FiledBy:  # a petition filed by one association carries ``organisation_id``
        organisation_id: int | None

    assert can(member, Action.PETITION_COLLECT, FiledBy(ORG), NOW)
    assert not can(member, Action.PETITION_COLLECT, FiledBy(None), NOW)
    # the base role cso_member keeps working with no subject (organisations.is_collector then checks the links)
    assert can(COLUMNS["cso_member"], Action.PETITION_COLLECT, None, NOW)


def test_scope_helpers() -> None:
    assert in_scope("", None) and not in_scope("body:body_youth", None)
    assert not in_scope("somewhere:else", Subject())
    assert scopes_for(COLUMNS["council_staff"], Action.PETITION_EXAMINE) is None
    assert scopes_for(COLUMNS["admin_grant"], Action.PETITION_EXAMINE) is None
    assert scopes_for(COLUMNS["sec_youth"], Action.PETITION_EXAMINE) == {"body:body_youth"}
    assert scopes_for(COLUMNS["citizen"], Action.PETITION_EXAMINE) == frozenset()
    assert scopes_for(ANONYMOUS, Action.PETITION_SIGN) == frozenset()
    assert addressees_for(COLUMNS["sec_youth"], Action.PETITION_EXAMINE) == {"body_youth"}
    assert addressees_for(COLUMNS["admin"], Action.PETITION_EXAMINE) is None
    assert can_somewhere(COLUMNS["sec_youth"], Action.PETITION_EXAMINE, NOW)
    assert not can_somewhere(COLUMNS["citizen"], Action.PETITION_EXAMINE, NOW)
    assert not can_somewhere(COLUMNS["blocked"], Action.PETITION_SIGN, NOW)
    assert COLUMNS["admin_grant"].holds("admin") and not COLUMNS["sec_youth"].holds("body_secretary")


def test_a_block_ends_at_its_end() -> None:
    blocked = COLUMNS["blocked"]
    assert not can(blocked, Action.PETITION_SIGN, None, BLOCK_END - timedelta(seconds=1))
    assert can(blocked, Action.PETITION_SIGN, None, BLOCK_END)
    assert not can(blocked, Action.PETITION_SIGN, None, None)  # no time given: a block on record refuses
    assert can(blocked, Action.PETITION_CREATE, None, NOW)  # not a participation action
    assert can(Actor(ME, "admin", blocked_until=BLOCK_END), Action.ROLES_GRANT, None, NOW)


def test_the_readme_holds_the_generated_matrix() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- permissions matrix: generated by civic\.permissions\.matrix_markdown\(\) -->\n(.*?)"
                      r"<!-- end of permissions matrix -->", readme, re.S)
    assert match, "README: the roles section must hold the generated matrix between its two markers"
    assert match.group(1) == matrix_markdown(), (
        "README's matrix and civic.permissions.MATRIX disagree: paste civic.permissions.matrix_markdown()")
    for action in Action:
        assert f"| `{action.value}` |" in match.group(1)


# --- through the database: grants and blocks loaded by actor_for_session ----------------------------------------


async def _load(session, actor: Actor, now: datetime = NOW) -> Actor:  # type: ignore[no-untyped-def]
    nonce = await session.scalar(select(User.session_nonce).where(User.id == actor.user_id))
    await session.commit()
    return await actor_for_session(session, actor.user_id, nonce, now)


async def _petition(session, author: Actor, addressed_to: str) -> int:  # type: ignore[no-untyped-def]
    pid = await service.create_petition(session, author, service.PetitionDraft(TITLE, BODY, addressed_to), "05", NOW)
    await session.execute(update(Petition).where(Petition.id == pid).values(
        status="submitted", published_at=NOW, submitted_at=NOW, examination_due_at=NOW + timedelta(days=61)))
    await session.commit()
    return pid


async def test_granted_and_revoked_body_secretary_through_the_database(session) -> None:  # type: ignore[no-untyped-def]
    admin, secretary, author = (await make_user(session, 1, role="admin"), await make_user(session, 2),
                                await make_user(session, 3))
    youth_pid, equality_pid = await _petition(session, author, "body_youth"), await _petition(
        session, author, "body_equality")
    before = await _load(session, secretary)
    assert before.grants == frozenset() and before.blocked_until is None
    grant_id = await roles.grant(session, admin, secretary.user_id, "body_secretary", "body:body_youth", NOW)
    loaded = await _load(session, secretary)
    assert loaded.grants == {("body_secretary", "body:body_youth")} and loaded.role == "citizen"
    youth, equality = await session.get(Petition, youth_pid), await session.get(Petition, equality_pid)
    await session.commit()
    assert can(loaded, Action.PETITION_EXAMINE, youth, NOW)
    assert not can(loaded, Action.PETITION_EXAMINE, equality, NOW)
    assert [p.id for p in await lifecycle.awaiting_examination(session, loaded, NOW)] == [youth_pid]
    with pytest.raises(Forbidden):
        await lifecycle.transition(session, loaded, equality_pid, "under_examination", lifecycle.TransitionInput(),
                                   RULES, NOW)
    await lifecycle.transition(session, loaded, youth_pid, "under_examination", lifecycle.TransitionInput(),
                               RULES, NOW)
    assert (await session.get(Petition, youth_pid, populate_existing=True)).status == "under_examination"
    await session.commit()

    await roles.revoke(session, admin, secretary.user_id, grant_id, NOW + timedelta(hours=1))
    revoked = await _load(session, secretary)
    assert revoked.grants == frozenset()
    assert not can(revoked, Action.PETITION_EXAMINE, youth, NOW)
    with pytest.raises(Forbidden):
        await lifecycle.awaiting_examination(session, revoked, NOW)
    with pytest.raises(Forbidden):
        await lifecycle.transition(session, revoked, youth_pid, "admissible", lifecycle.TransitionInput(
            session_label="Session", committee="Committee"), RULES, NOW)


async def test_an_unscoped_admin_grant_works_until_revoked(session) -> None:  # type: ignore[no-untyped-def]
    admin, other = await make_user(session, 1, role="admin"), await make_user(session, 2)
    assert not can(await _load(session, other), Action.ROLES_GRANT, None, NOW)
    grant_id = await roles.grant(session, admin, other.user_id, "admin", "", NOW)
    promoted = await _load(session, other)
    assert can(promoted, Action.ROLES_GRANT, None, NOW) and can(promoted, Action.AUDIT_VIEW, None, NOW)
    assert promoted.holds("admin")
    await roles.revoke(session, admin, other.user_id, grant_id, NOW)
    assert not can(await _load(session, other), Action.ROLES_GRANT, None, NOW)


async def test_a_cso_member_grant_through_the_database(session) -> None:  # type: ignore[no-untyped-def]
    admin, rep, staff, member = (await make_user(session, 1, role="admin"), await make_user(session, 2),
                                 await make_user(session, 3, role="council_staff"), await make_user(session, 4))
    org_id = await registered(session, rep)
    await orgs.verify(session, staff, org_id, ALL_CHECKS, NOW)
    await roles.grant(session, admin, member.user_id, "cso_member", f"organisation:{org_id}", NOW)
    loaded = await _load(session, member)
    assert loaded.grants == {("cso_member", f"organisation:{org_id}")}
    assert can(loaded, Action.PETITION_COLLECT, Subject(organisation_ids=(org_id,)), NOW)
    assert not can(loaded, Action.PETITION_COLLECT, Subject(organisation_ids=(org_id + 1,)), NOW)


async def test_blocks_loaded_from_the_database(session, keys) -> None:  # type: ignore[no-untyped-def]
    moderator, citizen, author = (await make_user(session, 1, role="moderator"), await make_user(session, 2),
                                  await make_user(session, 3))
    pid = await open_petition(session, author)
    rows = [  # an ended block, a lifted one, one in the future, and the one in force
        {"starts_at": NOW - timedelta(days=9), "ends_at": NOW - timedelta(days=2), "lifted_at": None},
        {"starts_at": NOW - timedelta(days=1), "ends_at": NOW + timedelta(days=30), "lifted_at": NOW},
        {"starts_at": NOW + timedelta(days=40), "ends_at": NOW + timedelta(days=50), "lifted_at": None},
        {"starts_at": NOW - timedelta(hours=1), "ends_at": BLOCK_END, "lifted_at": None},
    ]
    await session.execute(insert(UserBlock), [
        {"user_id": citizen.user_id, "blocked_by": moderator.user_id, "reason": "Spam", **row} for row in rows])
    await session.commit()
    loaded = await _load(session, citizen)
    assert loaded.blocked_until == BLOCK_END
    for action in (Action.PETITION_SIGN, Action.PROPOSAL_SUPPORT, Action.REPORT_CREATE, Action.COMMENT_CREATE):
        assert not can(loaded, action, Subject(), NOW), action
    with pytest.raises(Forbidden) as refused:
        await service.sign(session, loaded, keys, pid, signature(), NOW)
    assert refused.value.message == BLOCKED_MESSAGE
    later = await _load(session, citizen, BLOCK_END + timedelta(minutes=1))
    assert later.blocked_until is None
    outcome = await service.sign(session, later, keys, pid, signature(), BLOCK_END + timedelta(minutes=1))
    assert outcome is service.SignOutcome.SIGNED
    # the future block is not in force before it starts, and is when it does
    assert (await _load(session, citizen, NOW + timedelta(days=41))).blocked_until == NOW + timedelta(days=50)
