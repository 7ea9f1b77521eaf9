"""Petition use cases: create, read, count, sign, and staff access to signatures (the lifecycle is in
``civic.petitions.lifecycle``).

Rules: Organic Law 111-14 and Law 09-08 as summarised in shared/domain.md §2–§3.
Signing is a hot path (design.md): SQLAlchemy Core statements, no ORM loading, no password hashing,
one INSERT guarded by the database's unique indexes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import User
from civic.db import dialect_name, reading
from civic.errors import Conflict, Forbidden, Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.moderation import service as moderation
from civic.organisations import service as organisations
from civic.permissions import BLOCKED_MESSAGE, Action, Actor, can
from civic.petitions import pending
from civic.petitions.abuse_models import InvalidatedSignature
from civic.petitions.models import ADDRESSEES, PendingSignature, Petition, Signature, SignatureFlag
from civic.petitions.rules import RuleSet, rule_set
from civic.search import service as search
from civic.security import Keys, normalise_cnie
from civic.settings import PetitionRules
from civic.territories import service as territories
from civic.territories.models import Territory
from civic.text import clean_text

TITLE_MAX = 200
TITLE_MIN = 10
BODY_MAX = 10_000
BODY_MIN = 50
EASY_READ_MAX = 2_000
NAME_MAX = 150
PUBLIC_STATUSES = (
    "collecting", "submitted", "under_examination", "admissible", "inadmissible", "answered", "closed", "expired",
    "withdrawn",  # only those published before being withdrawn (list_public also requires published_at)
)


class SignOutcome(enum.Enum):
    """What a signing attempt answers. FLAGGED is never told apart from SIGNED (design.md)."""

    SIGNED = "signed"
    ALREADY_SIGNED = "already_signed"


@dataclass(frozen=True)
class PetitionDraft:
    """What an initiator writes: title (10–200 chars), body (50–10,000 chars), addressed_to (one of ADDRESSEES);
    organisation_id for an association petition (the actor must be its legal representative, and it must be
    verified by council staff: domain.md §2); easy_read, an optional plain-language summary (≤ 2,000 chars)."""

    title: str
    body: str
    addressed_to: str
    organisation_id: int | None = None
    easy_read: str = ""


@dataclass(frozen=True)
class SignatureInput:
    """What a signatory gives (shared/domain.md §2, data on each signatory).

    cnie: as typed (any case, spaces allowed). commune_code: commune of residence, in the region.
    electoral_declaration: declared on the electoral lists. consent: explicit Law 09-08 consent.
    public_name: the signatory agrees to their name being listed on the petition page (off by default).
    """

    full_name: str
    cnie: str
    commune_code: str
    electoral_declaration: bool
    consent: bool
    public_name: bool = False


@dataclass(frozen=True)
class PetitionView:
    """A petition as pages and the API show it. Rule fields are those stored at publication."""

    id: int
    title: str
    body: str
    addressed_to: str
    status: str
    author_id: int
    author_name: str
    created_at: datetime
    published_at: datetime | None
    collection_ends_at: datetime | None
    rules: RuleSet
    easy_read: str | None = None
    hidden_at: datetime | None = None  # hidden by moderation (issue #6): shown only to its author and moderators
    hidden_reason: str = ""


@dataclass(frozen=True)
class ProvinceCount:
    """Signatures from one province against the per-province minimum."""

    code: str
    name_ar: str
    name_fr: str
    count: int
    minimum: int

    @property
    def met(self) -> bool:
        """True when the province has at least its minimum."""
        return self.count >= self.minimum


@dataclass(frozen=True)
class Tally:
    """Signature count of a petition: total, threshold, and the per-province spread (domain.md §2)."""

    total: int
    threshold: int
    provinces: list[ProvinceCount]

    @property
    def threshold_met(self) -> bool:
        """True when the total reaches the threshold."""
        return self.total >= self.threshold

    @property
    def spread_met(self) -> bool:
        """True when every province reaches its minimum."""
        return all(p.met for p in self.provinces)


@dataclass(frozen=True)
class SignatureRecord:
    """A signature with personal data, for council staff only (CNIE decrypted; every view audited)."""

    number: int
    signed_at: datetime
    full_name: str
    cnie: str
    commune_ar: str
    commune_fr: str
    province_ar: str
    province_fr: str
    channel: str
    electoral_declaration: bool


def current_rule_set(region_population: int, rules: PetitionRules) -> RuleSet:
    """The rule set a petition published now would get."""
    return rule_set(region_population, rules)


def validate_draft(draft: PetitionDraft) -> PetitionDraft:
    """Check a draft's fields; raises Invalid with msgids per field. Returns the draft with white space trimmed."""
    title = " ".join(clean_text(draft.title).split())
    body = clean_text(draft.body).strip()
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = [N_("Please give your petition a title.")]
    elif len(title) < TITLE_MIN:
        errors["title"] = [N_("The title must be at least 10 characters long.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [N_("The title must be at most 200 characters long.")]
    if not body:
        errors["body"] = [N_("Please explain what you ask the council to do.")]
    elif len(body) < BODY_MIN:
        errors["body"] = [N_("The text must be at least 50 characters long.")]
    elif len(body) > BODY_MAX:
        errors["body"] = [N_("The text must be at most 10,000 characters long.")]
    easy_read = clean_text(draft.easy_read).strip()
    if len(easy_read) > EASY_READ_MAX:
        errors["easy_read"] = [N_("The summary in simple words must be at most 2,000 characters long.")]
    if draft.addressed_to not in ADDRESSEES:
        errors["addressed_to"] = [N_("Please choose who the petition is addressed to.")]
    if errors:
        raise Invalid(errors)
    return PetitionDraft(title=title, body=body, addressed_to=draft.addressed_to,
                         organisation_id=draft.organisation_id, easy_read=easy_read)


async def create_petition(session: AsyncSession, actor: Actor, draft: PetitionDraft, region_code: str,
                          now: datetime) -> int:
    """Create a petition in ``draft``, its author as agent; returns its id.

    A citizens' petition by default; an association petition when ``draft.organisation_id`` is given, which
    requires the actor to be that organisation's legal representative and the organisation to be verified.
    Raises NotSignedIn, Forbidden (not the representative), Conflict (organisation not verified), Invalid.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.PETITION_CREATE, None, now):
        raise Forbidden()
    clean = validate_draft(draft)
    async with session.begin():
        if clean.organisation_id is not None:
            await organisations.require_filing_representative(session, actor, clean.organisation_id)
        result = await session.execute(insert(Petition).values(
            kind="citizen" if clean.organisation_id is None else "association", title=clean.title, body=clean.body,
            addressed_to=clean.addressed_to, status="draft", region_code=region_code, author_id=actor.user_id,
            agent_id=actor.user_id, organisation_id=clean.organisation_id, easy_read=clean.easy_read or None,
            created_at=now,
        ).returning(Petition.id))
        petition_id = int(result.scalar_one())
        await search.index_item(session, "petition", petition_id, clean.title, clean.body)
        await audit.record(session, actor_id=actor.user_id, action="petitions:create", subject_type="petition",
                           subject_id=petition_id, now=now)
    return petition_id


def _view(p: Petition, author_name: str, fallback: RuleSet) -> PetitionView:
    stored = p.threshold is not None
    rules = RuleSet(
        threshold=p.threshold if stored and p.threshold is not None else fallback.threshold,
        province_minimum=p.province_minimum if stored and p.province_minimum is not None
        else fallback.province_minimum,
        require_electoral_registration=bool(p.require_electoral_registration) if stored
        else fallback.require_electoral_registration,
        collection_days=((p.collection_ends_at - p.published_at).days  # ends at 23:59:59 of its last day
                         if p.collection_ends_at and p.published_at else fallback.collection_days),
    )
    return PetitionView(
        id=p.id, title=p.title, body=p.body, addressed_to=p.addressed_to, status=p.status, author_id=p.author_id,
        author_name=author_name, created_at=p.created_at, published_at=p.published_at,
        collection_ends_at=p.collection_ends_at, rules=rules, easy_read=p.easy_read, hidden_at=p.hidden_at,
        hidden_reason=p.hidden_reason,
    )


async def get_petition(session: AsyncSession, actor: Actor, petition_id: int, rules: PetitionRules) -> PetitionView:
    """One petition. A petition never published (draft, or withdrawn as a draft) is visible only to its author
    and staff; a petition hidden by moderation only to its author and moderators (moderation.may_moderate;
    issue #6, item 3); others get NotFound."""
    async with reading(session):
        row = (await session.execute(
            select(Petition, User.display_name).join(User, User.id == Petition.author_id)
            .where(Petition.id == petition_id)
        )).first()
        if row is None:
            raise NotFound()
        petition, author_name = row
        # Never published (a draft, or a draft withdrawn before publication): private to its author and staff.
        if petition.published_at is None and actor.user_id != petition.author_id and not can(
            actor, Action.SIGNATURES_VIEW_PERSONAL
        ):
            raise NotFound()
        if petition.hidden_at is not None and actor.user_id != petition.author_id and not moderation.may_moderate(
            actor
        ):
            raise NotFound()
        region = await territories.region(session, petition.region_code)
        return _view(petition, author_name, rule_set(region.population_2024, rules))


def public_petitions() -> ColumnElement[bool]:
    """WHERE clause for petitions anyone may see in lists and search: a public status (PUBLIC_STATUSES),
    published (a draft, or a draft withdrawn before publication, never was; shared/domain.md §2), and not
    hidden by moderation (issue #6, item 3)."""
    return and_(Petition.status.in_(PUBLIC_STATUSES), Petition.published_at.is_not(None), Petition.hidden_at.is_(None))


async def list_public_views(session: AsyncSession, region_code: str, rules: PetitionRules,
                            limit: int = 50) -> list[PetitionView]:
    """Public petitions of the region (``public_petitions()``), newest first, without counts: the public list
    takes its figures from ``civic.petitions.counts`` (issue #8, item 4)."""
    async with reading(session):
        rows = await session.execute(
            select(Petition, User.display_name)
            .join(User, User.id == Petition.author_id)
            .where(Petition.region_code == region_code, public_petitions())
            .order_by(Petition.published_at.desc(), Petition.id.desc()).limit(limit)
        )
        region = await territories.region(session, region_code)
        fallback = rule_set(region.population_2024, rules)
        return [_view(p, name, fallback) for p, name in rows]


async def list_public(session: AsyncSession, region_code: str, rules: PetitionRules,
                      limit: int = 50) -> list[tuple[PetitionView, int]]:
    """Public petitions of the region, newest first, each with its exact signature count.

    Only the listed petitions are counted (``WHERE petition_id IN (…)`` through the
    ``(petition_id, province_code)`` index), never the signatures of every petition (issue #8, item 4).
    """
    async with reading(session):
        views = await list_public_views(session, region_code, rules, limit)
        counts = await province_counts(session, [v.id for v in views])
        return [(v, sum(counts.get(v.id, {}).values())) for v in views]


async def list_own_drafts(session: AsyncSession, actor: Actor, rules: PetitionRules) -> list[PetitionView]:
    """The actor's own petitions still in draft, newest first."""
    async with reading(session):
        if not actor.signed_in:
            return []
        rows = await session.execute(
            select(Petition, User.display_name).join(User, User.id == Petition.author_id)
            .where(Petition.author_id == actor.user_id, Petition.status == "draft").order_by(Petition.id.desc())
        )
        result = []
        for p, name in rows:
            region = await territories.region(session, p.region_code)
            result.append(_view(p, name, rule_set(region.population_2024, rules)))
        return result


async def province_counts(session: AsyncSession, petition_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Exact signature counts of the given petitions by province: ``{petition_id: {province_code: n}}``; a
    petition without signatures is absent. One grouped query keyed by petition, answered from the
    ``ix_signatures_petition_province`` index (design.md, "Counting without a hot row"); no counter row."""
    if not petition_ids:
        return {}
    async with reading(session):
        rows = await session.execute(
            select(Signature.petition_id, Signature.province_code, func.count())
            .where(Signature.petition_id.in_(sorted(set(petition_ids))))
            .group_by(Signature.petition_id, Signature.province_code)
        )
        result: dict[int, dict[str, int]] = {}
        for petition_id, code, n in rows:
            result.setdefault(int(petition_id), {})[code] = int(n)
        return result


def make_tally(petition: PetitionView, by_code: Mapping[str, int], provinces: Sequence[territories.Place]) -> Tally:
    """A Tally from per-province counts (``{province_code: n}``) and the region's provinces, against the
    petition's stored rule set (domain.md §2: threshold and per-province minimum)."""
    return Tally(
        total=sum(by_code.values()),
        threshold=petition.rules.threshold,
        provinces=[ProvinceCount(p.code, p.name_ar, p.name_fr, by_code.get(p.code, 0), petition.rules.province_minimum)
                   for p in provinces],
    )


async def tally(session: AsyncSession, petition: PetitionView, region_code: str) -> Tally:
    """Exact, uncached count of a petition's signatures by province, from the signatures table (index
    ``ix_signatures_petition_province``). Staff pages, submission, receipts, dossiers and the API use it; public
    pages show the briefly cached figure of ``civic.petitions.counts`` instead (issue #8, item 4)."""
    async with reading(session):
        by_code = (await province_counts(session, [petition.id])).get(petition.id, {})
        return make_tally(petition, by_code, await territories.provinces(session, region_code))


async def has_signed(session: AsyncSession, actor: Actor, petition_id: int) -> bool:
    """True when the actor's account has signed (or been answered as if it had signed) this petition, pending
    signatures of an account whose email is not verified included (issue #8, item 4)."""
    async with reading(session):
        if not actor.signed_in:
            return False
        signed = await session.scalar(select(
            exists().where(Signature.petition_id == petition_id, Signature.user_id == actor.user_id)
            | exists().where(SignatureFlag.petition_id == petition_id, SignatureFlag.user_id == actor.user_id)
            # issue #8: accounts — a signature waiting for the email to be verified
            | exists().where(PendingSignature.petition_id == petition_id, PendingSignature.user_id == actor.user_id)
        ))
        return bool(signed)


def validate_signature(data: SignatureInput, require_electoral: bool) -> tuple[str, str]:
    """Check a signature's fields; returns (full_name, normalised CNIE). Raises Invalid with msgids per field."""
    errors: dict[str, list[str]] = {}
    name = " ".join(clean_text(data.full_name).split())
    if not name:
        errors["full_name"] = [N_("Please write your full name.")]
    elif len(name) > NAME_MAX:
        errors["full_name"] = [N_("The name must be at most 150 characters long.")]
    cnie = normalise_cnie(clean_text(data.cnie))
    if not clean_text(data.cnie).strip():
        errors["cnie"] = [N_("Please write your CNIE number.")]
    elif cnie is None:
        errors["cnie"] = [N_("A CNIE number is one or two Latin letters followed by up to six digits, e.g. AB123456.")]
    if not data.commune_code:
        errors["commune_code"] = [N_("Please choose your commune of residence.")]
    if require_electoral and not data.electoral_declaration:
        errors["electoral_declaration"] = [N_("This petition requires signatories to be on the electoral lists.")]
    if not data.consent:
        errors["consent"] = [N_("Your signature can only be recorded with your consent.")]
    if errors or cnie is None:
        raise Invalid(errors)
    return name, cnie


async def sign(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int, data: SignatureInput,
               now: datetime, client_address: str | None = None, cnie_over_limit: bool = False,
               on_stored: Callable[[], Awaitable[object]] | None = None) -> SignOutcome:
    """Record an online signature.

    One person, one signature per petition: the unique index on (petition_id, cnie_hmac) decides, whatever
    the channel (shared/domain.md §2). A CNIE already used from another account is answered like a new
    signature, is not counted twice, and is flagged for staff (design.md, "Answers that reveal nothing").
    The same account signing again gets ALREADY_SIGNED.

    Issue #8, item 4: when the actor's email is not verified (``actor.email_verified`` False) the signature is
    stored in ``pending_signatures`` and answered exactly like a counted one (SIGNED); it counts once the email
    is verified (civic.petitions.pending.promote). Item 5: ``client_address`` (the signer's address, may be
    None) is stored only as ``keys.keyed_hash("client", address)`` in ``client_hash``. ``cnie_over_limit`` (the
    view's per-CNIE rate limit is exhausted): the attempt is answered SIGNED, not counted, and flagged for staff
    (reason ``cnie_rate_limited``), so a bot learns nothing (issue #8, item 4: "flagged for staff quietly rather
    than refused with a message that teaches a bot"). ``on_stored`` is awaited after the commit when a signature
    was stored (counted or pending), never for refused or flagged attempts: the view charges the per-CNIE limit
    there, so nobody can spend another person's CNIE budget with attempts that store nothing. A CNIE or account
    whose signature staff invalidated on this petition (civic.petitions.abuse) is answered SIGNED, not counted
    and flagged (``previously_invalidated``). A petition hidden by moderation raises NotFound.

    Raises NotSignedIn, Forbidden (BLOCKED_MESSAGE while a moderator's block is in force), NotFound, Conflict (not
    collecting, or the collection period is over), Invalid.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    if actor.blocked(now):  # a moderator's block (issue #6, item 3)
        raise Forbidden(BLOCKED_MESSAGE)
    if not can(actor, Action.PETITION_SIGN, None, now):
        raise Forbidden()
    async with session.begin():
        outcome, stored = await _record(session, actor, keys, petition_id, data, now, client_address,
                                        cnie_over_limit)
    if stored and on_stored is not None:
        await on_stored()
    return outcome


async def _record(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int, data: SignatureInput,
                  now: datetime, client_address: str | None, cnie_over_limit: bool) -> tuple[SignOutcome, bool]:
    """sign()'s transaction: (outcome, whether a signature was stored)."""
    p = (await session.execute(
        select(Petition.status, Petition.region_code, Petition.collection_ends_at, Petition.hidden_at,
               Petition.require_electoral_registration).where(Petition.id == petition_id)
    )).first()
    if p is None or p.hidden_at is not None:  # hidden by moderation: as if it did not exist (issue #6)
        raise NotFound()
    if p.status != "collecting":
        raise Conflict(N_("This petition is not collecting signatures."))
    if p.collection_ends_at is not None and now > p.collection_ends_at:
        raise Conflict(N_("The collection period of this petition is over."))
    name, cnie = validate_signature(data, bool(p.require_electoral_registration))
    commune = (await session.execute(
        select(Territory.province_code).where(
            Territory.code == data.commune_code, Territory.kind == "commune",
            Territory.region_code == p.region_code)
    )).first()
    if commune is None:
        raise Invalid({"commune_code": [N_("Please choose a commune of this region.")]})
    digest = keys.cnie_hmac(cnie)
    client_hash = keys.keyed_hash("client", client_address) if client_address else None
    if cnie_over_limit:
        return await _flag_quietly(session, actor, keys, petition_id, data, name, cnie, digest,
                                   "cnie_rate_limited", now), False
    if await session.scalar(select(exists().where(
            InvalidatedSignature.petition_id == petition_id,
            (InvalidatedSignature.cnie_hmac == digest) | (InvalidatedSignature.user_id == actor.user_id)))):
        return await _flag_quietly(session, actor, keys, petition_id, data, name, cnie, digest,
                                   "previously_invalidated", now), False
    verified = actor.email_verified or await session.scalar(  # lock the account row: a confirmation running
        select(User.email_verified_at.is_not(None)).where(User.id == actor.user_id)  # now moves pending rows
        .with_for_update())                                                       # either before or after us
    if not verified:  # issue #8: accounts — waits for the email to be verified
        stored = await pending.store(session, {
            "petition_id": petition_id, "user_id": actor.user_id, "full_name": name, "cnie_hmac": digest,
            "cnie_encrypted": keys.encrypt_cnie(cnie), "commune_code": data.commune_code,
            "province_code": commune.province_code, "electoral_declaration": data.electoral_declaration,
            "consent_at": now, "created_at": now, "public_name": data.public_name, "client_hash": client_hash,
        })
        return (SignOutcome.SIGNED, True) if stored else (SignOutcome.ALREADY_SIGNED, False)
    dialect_insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    inserted = await session.execute(dialect_insert(Signature).values(
        petition_id=petition_id, user_id=actor.user_id, full_name=name, cnie_hmac=digest,
        cnie_encrypted=keys.encrypt_cnie(cnie), commune_code=data.commune_code,
        province_code=commune.province_code, electoral_declaration=data.electoral_declaration,
        consent_at=now, channel="online", created_at=now, public_name=data.public_name,
        client_hash=client_hash,
    ).on_conflict_do_nothing().returning(Signature.id))
    if inserted.first() is not None:
        await still_collecting(session, petition_id)
        return SignOutcome.SIGNED, True
    return await _flag_quietly(session, actor, keys, petition_id, data, name, cnie, digest,
                               "cnie_used_by_other_account", now), False


async def _flag_quietly(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int, data: SignatureInput,
                        name: str, cnie: str, digest: str, reason: str, now: datetime) -> SignOutcome:
    """Inside sign()'s transaction: an attempt answered like a signature but not counted, flagged for staff.

    ALREADY_SIGNED when this account already signed (or was already answered so); otherwise a SignatureFlag with
    ``reason`` and SIGNED (design.md, "Answers that reveal nothing")."""
    own = await session.scalar(select(
        exists().where(Signature.petition_id == petition_id, Signature.user_id == actor.user_id)
        | exists().where(SignatureFlag.petition_id == petition_id, SignatureFlag.user_id == actor.user_id)
        | exists().where(PendingSignature.petition_id == petition_id, PendingSignature.user_id == actor.user_id)))
    if own:
        return SignOutcome.ALREADY_SIGNED
    await session.execute(insert(SignatureFlag).values(
        petition_id=petition_id, user_id=actor.user_id, cnie_hmac=digest, reason=reason, created_at=now,
        full_name=name, cnie_encrypted=keys.encrypt_cnie(cnie), commune_code=data.commune_code,
        public_name=data.public_name, electoral_declaration=data.electoral_declaration,
    ))
    return SignOutcome.SIGNED


async def still_collecting(session: AsyncSession, petition_id: int) -> None:
    """After inserting a signature, check the petition is still collecting; raises Conflict (rolling the
    insert back) when a submission committed meanwhile.

    On PostgreSQL the insert's foreign-key check waits for a submission holding the petition row FOR UPDATE;
    this fresh read (READ COMMITTED) then sees its outcome, so no signature lands on a filed petition and the
    count on the receipt is never exceeded. On SQLite transactions are serialised anyway (civic.db).
    """
    status = await session.scalar(select(Petition.status).where(Petition.id == petition_id))
    if status != "collecting":
        raise Conflict(N_("This petition is not collecting signatures."))


def _require_staff(actor: Actor, action: Action, now: datetime) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, action, None, now):
        raise Forbidden()


async def _signature_rows(session: AsyncSession, keys: Keys, petition_id: int) -> AsyncIterator[SignatureRecord]:
    province = Territory.__table__.alias("province")
    stmt = (
        select(Signature.created_at, Signature.full_name, Signature.cnie_encrypted, Signature.channel,
               Signature.electoral_declaration, Territory.name_ar, Territory.name_fr,
               province.c.name_ar, province.c.name_fr)
        .join(Territory, Territory.code == Signature.commune_code)
        .join(province, province.c.code == Signature.province_code)
        .where(Signature.petition_id == petition_id).order_by(Signature.id)
        .execution_options(yield_per=1000)
    )
    number = 0
    async with session.begin():
        result = await session.stream(stmt)
        async for row in result:
            number += 1
            yield SignatureRecord(
                number=number, signed_at=row[0], full_name=row[1],
                cnie=keys.decrypt_cnie(row[2]) if row[2] else "",  # erased after the retention period
                channel=row[3],
                electoral_declaration=row[4], commune_ar=row[5], commune_fr=row[6], province_ar=row[7],
                province_fr=row[8],
            )


async def open_signatures(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int,
                          now: datetime, purpose: str = "view") -> AsyncIterator[SignatureRecord]:
    """Check access, audit it, then return an iterator over signatures with decrypted CNIEs (council staff only).

    purpose: ``view`` (the staff page) or ``export`` (the CSV). Requires signatures:view_personal, and
    exports:personal for an export; every access is recorded in the audit log before any row is read
    (shared/domain.md §3). Raises NotSignedIn, Forbidden, NotFound before anything is streamed.
    """
    _require_staff(actor, Action.SIGNATURES_VIEW_PERSONAL, now)
    if purpose == "export":
        _require_staff(actor, Action.EXPORTS_PERSONAL, now)
    async with session.begin():
        if await session.get(Petition, petition_id) is None:
            raise NotFound()
        await audit.record(session, actor_id=actor.user_id, action=f"signatures:{purpose}_personal",
                           subject_type="petition", subject_id=petition_id, now=now)
    return _signature_rows(session, keys, petition_id)
