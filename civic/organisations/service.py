"""Organisations: registration, verification by council staff, invitations, members and collectors.

Association eligibility (Organic Law 111-14, shared/domain.md §2): constituted in Morocco for more than
3 years, democratic statutes, good standing, seat or branch in the region, activity related to the subject.
Staff verify the first four once, recording each check and the documents seen; the fifth is judged per
petition by the bureau at examination.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from itsdangerous import BadSignature
from sqlalchemy import delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit, i18n
from civic.accounts.models import User
from civic.accounts.service import EMAIL_PATTERN, normalise_email
from civic.db import reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.notifications import service as notifications
from civic.organisations.models import (
    Invitation,
    Organisation,
    OrganisationMember,
    OrganisationVerification,
    PetitionCollector,
    PetitionOrganisation,
)
from civic.permissions import ORGANISATION_SCOPE, Action, Actor, can, can_somewhere, scopes_for
from civic.security import Keys
from civic.territories.models import Territory
from civic.text import clean_text

INVITATION_MAX_AGE_SECONDS = 14 * 24 * 3600
MIN_AGE_YEARS = 3


@dataclass(frozen=True)
class OrganisationInput:
    """Registration data: names in Arabic and French, registration reference (récépissé), founding date,
    seat commune (in the region), description of the activity."""

    name_ar: str
    name_fr: str
    registration_ref: str
    founded_on: str
    seat_commune_code: str
    activity: str


@dataclass(frozen=True)
class VerificationInput:
    """Staff's checks (domain.md §2) and the references of the documents seen (statutes, récépissé, ...)."""

    constituted_over_3_years: bool
    democratic_statutes: bool
    good_standing: bool
    seat_in_region: bool
    document_refs: str
    notes: str = ""


@dataclass(frozen=True)
class OrganisationView:
    """An organisation as its page shows it; members only for its representative and staff."""

    id: int
    name_ar: str
    name_fr: str
    registration_ref: str
    founded_on: date
    seat_commune_code: str
    activity: str
    status: str
    representative_id: int
    members: list[tuple[int, str, str]]  # (user id, display name, role)
    verifications: list[OrganisationVerification]


def older_than(founded_on: date, today: date, years: int) -> bool:
    """True when ``founded_on`` is more than ``years`` full years before ``today`` (29 February → 28)."""
    try:
        anniversary = founded_on.replace(year=founded_on.year + years)
    except ValueError:
        anniversary = founded_on.replace(year=founded_on.year + years, day=28)
    return anniversary < today


def _validate(data: OrganisationInput, region_code: str, commune: Territory | None, today: date) -> dict[str, object]:
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    for name, limit in (("name_ar", 200), ("name_fr", 200), ("registration_ref", 100)):
        text = " ".join(clean_text(getattr(data, name)).split())
        if not text:
            errors[name] = [N_("This field is required.")]
        elif len(text) > limit:
            errors[name] = [N_("This text is too long.")]
        values[name] = text
    activity = clean_text(data.activity).strip()
    if len(activity) < 20:
        errors["activity"] = [N_("Describe the organisation's activity in at least 20 characters.")]
    values["activity"] = activity[:5000]
    try:
        founded = date.fromisoformat(data.founded_on.strip())
        if founded > today:
            raise ValueError
        values["founded_on"] = founded
    except ValueError:
        errors["founded_on"] = [N_("Give the founding date as year-month-day, e.g. 2015-03-21.")]
    if commune is None or commune.kind != "commune" or commune.region_code != region_code:
        errors["seat_commune_code"] = [N_("Please choose a commune of this region.")]
    values["seat_commune_code"] = data.seat_commune_code
    if errors:
        raise Invalid(errors)
    return values


async def register(session: AsyncSession, actor: Actor, data: OrganisationInput, region_code: str,
                   now: datetime) -> int:
    """Register an organisation (status ``pending``); the actor becomes its legal representative and a
    cso_member. Returns its id. Raises NotSignedIn, Forbidden, Invalid."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.ORGANISATION_REGISTER, None, now):
        raise Forbidden()
    async with session.begin():
        commune = await session.get(Territory, data.seat_commune_code) if data.seat_commune_code else None
        values = _validate(data, region_code, commune, now.astimezone(i18n.TIMEZONE).date())
        org_id = int((await session.execute(insert(Organisation).values(
            **values, legal_representative_id=actor.user_id, status="pending", created_at=now,
        ).returning(Organisation.id))).scalar_one())
        await session.execute(insert(OrganisationMember).values(
            organisation_id=org_id, user_id=actor.user_id, role="representative", joined_at=now))
        if actor.role == "citizen":
            await session.execute(update(User).where(User.id == actor.user_id).values(role="cso_member"))
        await audit.record(session, actor_id=actor.user_id, action="organisations:register",
                           subject_type="organisation", subject_id=org_id, now=now)
    return org_id


async def verify(session: AsyncSession, actor: Actor, organisation_id: int, data: VerificationInput,
                 now: datetime) -> str:
    """Record council staff's verification; returns the outcome, ``verified`` or ``rejected``.

    Verified only when all four checks hold and the founding date is more than 3 years before today
    (a tick that the dates contradict is refused). Raises NotSignedIn, Forbidden, NotFound, Invalid.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.ORGANISATION_VERIFY, None, now):
        raise Forbidden()
    refs = clean_text(data.document_refs).strip()
    if not refs:
        raise Invalid({"document_refs": [N_("List the documents you checked (statutes, receipt, ...).")]})
    async with session.begin():
        org = await session.get(Organisation, organisation_id, with_for_update=True)
        if org is None:
            raise NotFound()
        old_enough = older_than(org.founded_on, now.astimezone(i18n.TIMEZONE).date(), MIN_AGE_YEARS)
        if data.constituted_over_3_years and not old_enough:
            raise Invalid({"constituted_over_3_years": [
                N_("The founding date is less than 3 years ago; this check cannot be ticked.")]})
        checks = (data.constituted_over_3_years, data.democratic_statutes, data.good_standing, data.seat_in_region)
        outcome = "verified" if all(checks) else "rejected"
        await session.execute(insert(OrganisationVerification).values(
            organisation_id=organisation_id, staff_id=actor.user_id, at=now,
            constituted_over_3_years=data.constituted_over_3_years, democratic_statutes=data.democratic_statutes,
            good_standing=data.good_standing, seat_in_region=data.seat_in_region, document_refs=refs[:2000],
            notes=clean_text(data.notes).strip()[:2000], outcome=outcome,
        ))
        org.status = outcome
        await audit.record(session, actor_id=actor.user_id, action=f"organisations:{outcome}",
                           subject_type="organisation", subject_id=organisation_id, now=now,
                           detail={"checks": list(checks)})
        await notifications.enqueue(
            session, [org.legal_representative_id], N_("Your organisation's verification"),
            N_("Council staff have reviewed “%(name)s”. Result: %(outcome)s."),
            {"name": org.name_ar, "outcome": N_("verified") if outcome == "verified" else N_("not verified")},
            purpose="organisations:verify", now=now, translate=("outcome",))
    return outcome


async def require_filing_representative(session: AsyncSession, actor: Actor, organisation_id: int) -> None:
    """Inside the caller's transaction: the actor must be the legal representative of a verified organisation.

    Raises NotFound, Forbidden (not its representative), Conflict (not verified by council staff).
    """
    org = await session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound()
    if org.legal_representative_id != actor.user_id:
        raise Forbidden()
    if org.status != "verified":
        raise Conflict(N_("Council staff must verify the association before it can file a petition."))


async def get(session: AsyncSession, actor: Actor, organisation_id: int, now: datetime) -> OrganisationView:
    """One organisation. Members and verifications are listed for its representative and staff only."""
    async with reading(session):
        org = await session.get(Organisation, organisation_id)
        if org is None:
            raise NotFound()
        insider = actor.user_id == org.legal_representative_id or can(actor, Action.ORGANISATION_VERIFY, None, now)
        members: list[tuple[int, str, str]] = []
        verifications: list[OrganisationVerification] = []
        if insider:
            rows = await session.execute(
                select(User.id, User.display_name, OrganisationMember.role)
                .join(OrganisationMember, OrganisationMember.user_id == User.id)
                .where(OrganisationMember.organisation_id == organisation_id).order_by(OrganisationMember.id))
            members = [(int(a), str(b), str(c)) for a, b, c in rows]
            verifications = list(await session.scalars(
                select(OrganisationVerification).where(OrganisationVerification.organisation_id == organisation_id)
                .order_by(OrganisationVerification.id)))
        return OrganisationView(org.id, org.name_ar, org.name_fr, org.registration_ref, org.founded_on,
                                org.seat_commune_code, org.activity, org.status, org.legal_representative_id,
                                members, verifications)


async def list_all(session: AsyncSession, status: str | None = None) -> list[Organisation]:
    """Organisations, newest first, optionally of one status (public: names and status only are shown)."""
    async with reading(session):
        stmt = select(Organisation).order_by(Organisation.id.desc())
        if status:
            stmt = stmt.where(Organisation.status == status)
        return list(await session.scalars(stmt))


async def represented_by(session: AsyncSession, actor: Actor) -> list[Organisation]:
    """Organisations whose legal representative is the actor."""
    if not actor.signed_in:
        return []
    async with reading(session):
        return list(await session.scalars(select(Organisation).where(
            Organisation.legal_representative_id == actor.user_id).order_by(Organisation.id)))


def invitation_token(keys: Keys, invitation_id: int) -> str:
    """The signed token in an invitation link (salt ``invitation``)."""
    return keys.serializer("invitation").dumps(invitation_id)


async def invite(session: AsyncSession, actor: Actor, keys: Keys, purpose: str, subject_id: int, email: str,
                 now: datetime, base_url: str) -> None:
    """Invite someone by email to join an organisation (``organisation_member``, by its representative) or
    to be a citizens' petition's deputy agent (``petition_deputy``, by its agent while in draft or collecting).

    The address goes only into the outbox. Raises NotSignedIn, NotFound, Forbidden, Invalid.
    """
    from civic.petitions.models import Petition

    if not actor.signed_in:
        raise NotSignedIn()
    address = normalise_email(email)
    if not EMAIL_PATTERN.fullmatch(address) or len(address) > 254:
        raise Invalid({"email": [N_("This does not look like an email address, e.g. name@example.ma.")]})
    async with session.begin():
        if purpose == "organisation_member":
            org = await session.get(Organisation, subject_id)
            if org is None:
                raise NotFound()
            if org.legal_representative_id != actor.user_id:
                raise Forbidden()
            name = org.name_ar
        elif purpose == "petition_deputy":
            petition = await session.get(Petition, subject_id)
            if petition is None:
                raise NotFound()
            if petition.agent_id != actor.user_id or petition.kind != "citizen":
                raise Forbidden()
            if petition.status not in ("draft", "collecting"):
                raise Conflict()
            name = petition.title
        else:
            raise NotFound()
        invitation_id = int((await session.execute(insert(Invitation).values(
            purpose=purpose, subject_id=subject_id, invited_by_id=actor.user_id, created_at=now,
        ).returning(Invitation.id))).scalar_one())
        link = f"{base_url}/invitations/{invitation_token(keys, invitation_id)}"
        body = (N_("You are invited to join “%(name)s” on Civic. Sign in or create an account, then open: %(link)s")
                if purpose == "organisation_member" else
                N_("You are invited to be the deputy agent of the petition “%(name)s” on Civic. "
                   "Sign in or create an account, then open: %(link)s"))
        await notifications.enqueue_address(session, address, N_("An invitation from Civic"), body,
                                            {"name": name, "link": link}, purpose=f"invitation:{purpose}", now=now)
        await audit.record(session, actor_id=actor.user_id, action=f"invitations:{purpose}",
                           subject_type="invitation", subject_id=invitation_id, now=now)


async def accept(session: AsyncSession, actor: Actor, keys: Keys, token: str, now: datetime) -> tuple[str, int]:
    """Accept an invitation as the signed-in actor; returns (purpose, subject id).

    Raises NotSignedIn, NotFound (bad or expired token), Conflict (already used).
    """
    from civic.petitions.models import Petition

    if not actor.signed_in:
        raise NotSignedIn()
    try:
        invitation_id = keys.serializer("invitation").loads(token, max_age=INVITATION_MAX_AGE_SECONDS)
    except BadSignature:
        raise NotFound(N_("This invitation link is not valid or has expired.")) from None
    async with session.begin():
        invitation = await session.get(Invitation, int(invitation_id), with_for_update=True)
        if invitation is None:
            raise NotFound(N_("This invitation link is not valid or has expired."))
        if invitation.accepted_at is not None:
            raise Conflict(N_("This invitation has already been used."))
        if invitation.purpose == "organisation_member":
            try:
                async with session.begin_nested():
                    await session.execute(insert(OrganisationMember).values(
                        organisation_id=invitation.subject_id, user_id=actor.user_id, role="member", joined_at=now))
            except IntegrityError:
                raise Conflict(N_("You are already a member of this organisation.")) from None
            if actor.role == "citizen":
                await session.execute(update(User).where(User.id == actor.user_id).values(role="cso_member"))
        else:
            petition = await session.get(Petition, invitation.subject_id, with_for_update=True)
            if petition is None or petition.status not in ("draft", "collecting"):
                raise Conflict()
            if petition.agent_id == actor.user_id:
                raise Conflict(N_("The agent cannot also be the deputy agent."))
            petition.deputy_id = actor.user_id
        invitation.accepted_at, invitation.accepted_by_id = now, actor.user_id
        await audit.record(session, actor_id=actor.user_id, action=f"invitations:accept_{invitation.purpose}",
                           subject_type="invitation", subject_id=invitation.id, now=now)
        return invitation.purpose, invitation.subject_id


async def authorise_organisation(session: AsyncSession, actor: Actor, petition_id: int, organisation_id: int,
                                 now: datetime) -> None:
    """The petition's agent or deputy allows a verified association to collect paper signatures for it.

    Without this (or being the petition's own association) no member of the association can be linked as a
    collector. Idempotent. Raises NotSignedIn, NotFound, Forbidden (not the agent/deputy), Conflict (the
    association is not verified, or the petition is no longer collecting).
    """
    from civic.petitions.models import Petition

    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        petition = await session.get(Petition, petition_id)
        org = await session.get(Organisation, organisation_id)
        if petition is None or org is None or petition.published_at is None:
            raise NotFound()
        if actor.user_id not in {petition.agent_id, petition.deputy_id}:
            raise Forbidden()
        if org.status != "verified":
            raise Conflict(N_("Council staff must verify the association before its members collect signatures."))
        if petition.status != "collecting":
            raise Conflict(N_("This petition is not collecting signatures."))
        exists_already = await session.scalar(select(exists().where(
            PetitionOrganisation.petition_id == petition_id, PetitionOrganisation.organisation_id == organisation_id)))
        if not exists_already:
            await session.execute(insert(PetitionOrganisation).values(
                petition_id=petition_id, organisation_id=organisation_id, authorised_by_id=actor.user_id,
                authorised_at=now))
            await audit.record(session, actor_id=actor.user_id, action="petitions:authorise_organisation",
                               subject_type="petition", subject_id=petition_id, now=now,
                               detail={"organisation_id": organisation_id})
            await notifications.enqueue(
                session, [org.legal_representative_id], N_("Your association may collect signatures"),
                N_("The agent of the petition “%(title)s” allows “%(name)s” to collect paper signatures for it."),
                {"title": petition.title, "name": org.name_ar}, purpose="petitions:authorise_organisation",
                now=now)


async def revoke_organisation(session: AsyncSession, actor: Actor, petition_id: int, organisation_id: int,
                              now: datetime) -> None:
    """The agent or deputy withdraws an association's permission; its collectors for the petition are
    unlinked (signatures already entered stay). Raises NotSignedIn, NotFound, Forbidden."""
    from civic.petitions.models import Petition

    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        petition = await session.get(Petition, petition_id)
        if petition is None:
            raise NotFound()
        if actor.user_id not in {petition.agent_id, petition.deputy_id}:
            raise Forbidden()
        await session.execute(delete(PetitionOrganisation).where(
            PetitionOrganisation.petition_id == petition_id, PetitionOrganisation.organisation_id == organisation_id))
        await session.execute(delete(PetitionCollector).where(
            PetitionCollector.petition_id == petition_id, PetitionCollector.organisation_id == organisation_id))
        await audit.record(session, actor_id=actor.user_id, action="petitions:revoke_organisation",
                           subject_type="petition", subject_id=petition_id, now=now,
                           detail={"organisation_id": organisation_id})


def _allowed(petition_id: int, organisation_id: Any) -> Any:
    """SQL condition: the organisation may collect for the petition (its own petition, or authorised)."""
    from civic.petitions.models import Petition

    return or_(
        exists().where(Petition.id == petition_id, Petition.organisation_id == organisation_id),
        exists().where(PetitionOrganisation.petition_id == petition_id,
                       PetitionOrganisation.organisation_id == organisation_id),
    )


async def link_collector(session: AsyncSession, actor: Actor, organisation_id: int, petition_id: int,
                         user_id: int, now: datetime) -> None:
    """The representative links a member of the organisation to a collecting petition, so that member may
    enter paper and assisted signatures for it (domain.md §2). The association must be the petition's own,
    or allowed by the petition's agent (authorise_organisation). Raises NotSignedIn, NotFound, Forbidden,
    Conflict (not verified, not allowed, not a member, or the petition is not collecting)."""
    from civic.petitions.models import Petition

    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        org = await session.get(Organisation, organisation_id)
        petition = await session.get(Petition, petition_id)
        if org is None or petition is None:
            raise NotFound()
        if org.legal_representative_id != actor.user_id:
            raise Forbidden()
        if org.status != "verified":
            raise Conflict(N_("Council staff must verify the association before its members collect signatures."))
        if petition.status != "collecting":
            raise Conflict(N_("This petition is not collecting signatures."))
        if not await session.scalar(select(_allowed(petition_id, organisation_id))):
            raise Conflict(N_("The petition's agent has not allowed this association to collect signatures for it."))
        member = await session.scalar(select(exists().where(
            OrganisationMember.organisation_id == organisation_id, OrganisationMember.user_id == user_id)))
        if not member:
            raise Conflict(N_("Only members of the organisation can collect signatures for it."))
        already = await session.scalar(select(exists().where(
            PetitionCollector.petition_id == petition_id, PetitionCollector.user_id == user_id)))
        if not already:
            await session.execute(insert(PetitionCollector).values(
                petition_id=petition_id, user_id=user_id, organisation_id=organisation_id, added_by_id=actor.user_id,
                added_at=now))
            await audit.record(session, actor_id=actor.user_id, action="petitions:link_collector",
                               subject_type="petition", subject_id=petition_id, now=now,
                               detail={"user_id": user_id, "organisation_id": organisation_id})


def collecting_scope(actor: Actor) -> frozenset[int] | None:
    """The organisations the actor's roles let them collect signatures for: None for every organisation (the
    base role cso_member, or an unscoped grant), else the ids of their ``organisation:<id>`` grants (empty:
    none). civic.permissions.scopes_for; issue #6, item 1: "a cso_member only for their organisation's
    petitions"."""
    scopes = scopes_for(actor, Action.PETITION_COLLECT)
    if scopes is None:
        return None
    ids = (s[len(ORGANISATION_SCOPE):] for s in scopes if s.startswith(ORGANISATION_SCOPE))
    return frozenset(int(i) for i in ids if i.isascii() and i.isdigit())


async def is_collector(session: AsyncSession, actor: Actor, petition_id: int, now: datetime) -> bool:
    """True when the actor is a cso_member linked to the petition as a collector, still a member of an
    organisation that is (still) verified and allowed to collect for it. A cso_member held through an
    ``organisation:<id>`` grant counts only for links made for that organisation (``collecting_scope``)."""
    if not can_somewhere(actor, Action.PETITION_COLLECT, now):
        return False
    conditions = [
        PetitionCollector.petition_id == petition_id, PetitionCollector.user_id == actor.user_id,
        PetitionCollector.organisation_id == Organisation.id, Organisation.status == "verified",
        OrganisationMember.organisation_id == Organisation.id,
        OrganisationMember.user_id == actor.user_id, _allowed(petition_id, Organisation.id)]
    organisation_ids = collecting_scope(actor)
    if organisation_ids is not None:
        conditions.append(PetitionCollector.organisation_id.in_(sorted(organisation_ids)))
    async with reading(session):
        return bool(await session.scalar(select(exists().where(*conditions))))


async def collecting_organisations(session: AsyncSession, petition_id: int) -> list[Organisation]:
    """Associations allowed to collect paper signatures for a petition (shown publicly)."""
    async with reading(session):
        return list(await session.scalars(select(Organisation).where(Organisation.id.in_(
            select(PetitionOrganisation.organisation_id).where(PetitionOrganisation.petition_id == petition_id)))
            .order_by(Organisation.id)))
