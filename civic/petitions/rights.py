"""Signatories' rights and retention (Law 09-08, as summarised in shared/domain.md §3).

- A signatory sees their own signatures and can export what Civic holds about them.
- A signature can be withdrawn while the petition is still ``collecting``.
- Names are public only for signatories who opted in.
- After a petition ends (closed, expired or withdrawn) plus the retention period, names, CNIEs and the link
  to the account are erased; the counts by commune and province stay.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.accounts.models import User
from civic.db import reading
from civic.errors import Conflict, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Actor
from civic.petitions.abuse_models import InvalidatedSignature
from civic.petitions.models import PendingSignature, Petition, Signature, SignatureFlag
from civic.security import Keys
from civic.territories.models import Territory

PUBLIC_NAMES_LIMIT = 200


@dataclass(frozen=True)
class MySignature:
    """One of the actor's signatures, with what they may do about it."""

    petition_id: int
    title: str
    status: str
    signed_at: datetime
    commune_ar: str
    commune_fr: str
    public_name: bool

    @property
    def withdrawable(self) -> bool:
        """A signature can be withdrawn while the petition is collecting (domain.md §3)."""
        return self.status == "collecting"


async def my_signatures(session: AsyncSession, actor: Actor) -> list[MySignature]:
    """The actor's online signatures (pending ones included, issue #8), newest first. Raises NotSignedIn."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with reading(session):
        rows = []
        # Counted signatures, attempts answered like signatures (design.md: reveal nothing), and signatures
        # waiting for the account's email to be verified (issue #8): all theirs, all listed alike.
        for table in (Signature, SignatureFlag, PendingSignature):
            rows += list(await session.execute(
                select(Petition.id, Petition.title, Petition.status, table.created_at, Territory.name_ar,
                       Territory.name_fr, table.public_name)
                .join(table, table.petition_id == Petition.id)
                .join(Territory, Territory.code == table.commune_code)
                .where(table.user_id == actor.user_id)))
        return sorted((MySignature(*row) for row in rows), key=lambda s: s.signed_at, reverse=True)


async def withdraw(session: AsyncSession, actor: Actor, petition_id: int, now: datetime) -> None:
    """Withdraw the actor's signature from a collecting petition: the row is deleted, the count goes down.

    Raises NotSignedIn, NotFound (no signature of theirs), Conflict (the petition is no longer collecting).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        # Lock the petition row against a concurrent submission (which takes FOR UPDATE) so that the count
        # filed with the council is never higher than what remains.
        status = await session.scalar(select(Petition.status).where(Petition.id == petition_id)
                                      .with_for_update(read=True))
        signature_id = await session.scalar(select(Signature.id).where(
            Signature.petition_id == petition_id, Signature.user_id == actor.user_id))
        flag_id = await session.scalar(select(SignatureFlag.id).where(
            SignatureFlag.petition_id == petition_id, SignatureFlag.user_id == actor.user_id))
        pending_id = await session.scalar(select(PendingSignature.id).where(
            PendingSignature.petition_id == petition_id, PendingSignature.user_id == actor.user_id))
        if status is None or (signature_id is None and flag_id is None and pending_id is None):
            raise NotFound(N_("You have not signed this petition."))
        if status != "collecting":
            raise Conflict(N_("A signature can only be withdrawn while the petition is collecting signatures."))
        await session.execute(delete(Signature).where(
            Signature.petition_id == petition_id, Signature.user_id == actor.user_id))
        await session.execute(delete(SignatureFlag).where(
            SignatureFlag.petition_id == petition_id, SignatureFlag.user_id == actor.user_id))
        await session.execute(delete(PendingSignature).where(
            PendingSignature.petition_id == petition_id, PendingSignature.user_id == actor.user_id))
        await audit.record(session, actor_id=actor.user_id, action="signatures:withdraw", subject_type="petition",
                           subject_id=petition_id, now=now)


async def my_data(session: AsyncSession, actor: Actor, keys: Keys, now: datetime) -> dict[str, Any]:
    """Everything Civic holds about the actor, as JSON-ready data (their own CNIEs included). Audited."""
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        user = await session.get(User, actor.user_id)
        if user is None:
            raise NotFound()
        rows = await session.execute(
            select(Signature, Petition.title).join(Petition, Petition.id == Signature.petition_id)
            .where(Signature.user_id == actor.user_id).order_by(Signature.id))
        signatures = [{
            "petition_id": s.petition_id, "petition_title": title, "signed_at": s.created_at.isoformat(),
            "full_name": s.full_name, "cnie": keys.decrypt_cnie(s.cnie_encrypted) if s.cnie_encrypted else None,
            "commune_code": s.commune_code, "electoral_declaration": s.electoral_declaration,
            "public_name": s.public_name, "consent_at": s.consent_at.isoformat(),
        } for s, title in rows]
        flags = await session.execute(
            select(SignatureFlag, Petition.title).join(Petition, Petition.id == SignatureFlag.petition_id)
            .where(SignatureFlag.user_id == actor.user_id))
        signatures += [{  # shown exactly like signatures (design.md: reveal nothing)
            "petition_id": f.petition_id, "petition_title": title, "signed_at": f.created_at.isoformat(),
            "full_name": f.full_name, "cnie": keys.decrypt_cnie(f.cnie_encrypted) if f.cnie_encrypted else None,
            "commune_code": f.commune_code, "electoral_declaration": f.electoral_declaration,
            "public_name": f.public_name,
            "consent_at": f.created_at.isoformat(),
        } for f, title in flags]
        waiting = await session.execute(  # pending until the email is verified (issue #8)
            select(PendingSignature, Petition.title).join(Petition, Petition.id == PendingSignature.petition_id)
            .where(PendingSignature.user_id == actor.user_id))
        signatures += [{
            "petition_id": w.petition_id, "petition_title": title, "signed_at": w.created_at.isoformat(),
            "full_name": w.full_name, "cnie": keys.decrypt_cnie(w.cnie_encrypted) if w.cnie_encrypted else None,
            "commune_code": w.commune_code, "electoral_declaration": w.electoral_declaration,
            "public_name": w.public_name, "consent_at": w.consent_at.isoformat(),
            "waiting_for_email_confirmation": True,
        } for w, title in waiting]
        signatures.sort(key=lambda s: str(s["signed_at"]))
        await audit.record(session, actor_id=actor.user_id, action="accounts:export_own_data", subject_type="user",
                           subject_id=user.id, now=now)
    return {
        "account": {"display_name": user.display_name, "email": user.email, "role": user.role,
                    "commune_code": user.commune_code, "created_at": user.created_at.isoformat()},
        "signatures": signatures,
        "exported_at": now.isoformat(),
    }


async def public_names(session: AsyncSession, petition_id: int) -> tuple[list[str], int]:
    """Names of signatories who opted in (at most PUBLIC_NAMES_LIMIT, newest first) and how many opted in.

    Attempts answered like signatures (SignatureFlag) are listed too, so an opted-in name never reveals that
    its CNIE had already signed (design.md).
    """
    async with reading(session):
        opted = (select(Signature.full_name.label("name"), Signature.created_at.label("at"))
                 .where(Signature.petition_id == petition_id, Signature.public_name,  # ix_signatures_public_name
                        Signature.full_name != "")
                 .union_all(select(SignatureFlag.full_name, SignatureFlag.created_at)
                            .where(SignatureFlag.petition_id == petition_id, SignatureFlag.public_name.is_(True),
                                   SignatureFlag.full_name != "")).subquery())
        names = list(await session.scalars(select(opted.c.name).order_by(opted.c.at.desc())
                                           .limit(PUBLIC_NAMES_LIMIT)))
        total = int(await session.scalar(select(func.count()).select_from(opted)) or 0)
        return names, total


async def anonymise_expired(session: AsyncSession, retention_days: int, now: datetime) -> list[int]:
    """Erase signatory data of petitions that ended more than ``retention_days`` ago; returns their ids.

    Kept: one row per signature with its commune, province, channel and date, so counts are unchanged.
    Erased: full name, CNIE (encrypted and keyed hash, replaced by a random value per row), account link,
    sheet reference, opt-in; the same in signatures invalidated by staff (issue #8); quiet flags are deleted.
    Idempotent (already anonymised petitions are skipped).
    """
    cutoff = now - timedelta(days=retention_days)
    async with session.begin():
        ids = list(await session.scalars(select(Petition.id).where(
            Petition.status.in_(("closed", "expired", "withdrawn")), Petition.ended_at <= cutoff,
            Petition.anonymised_at.is_(None))))
        for petition_id in ids:
            signature_ids = list(await session.scalars(
                select(Signature.id).where(Signature.petition_id == petition_id)))
            for signature_id in signature_ids:
                await session.execute(update(Signature).where(Signature.id == signature_id).values(
                    full_name="", cnie_encrypted=b"", cnie_hmac="anon-" + secrets.token_hex(16), user_id=None,
                    paper_sheet_ref=None, public_name=False))
            await session.execute(delete(SignatureFlag).where(SignatureFlag.petition_id == petition_id))
            # Signatures invalidated by staff (issue #8): the batch and its rows stay, the person does not.
            await session.execute(update(InvalidatedSignature).where(
                InvalidatedSignature.petition_id == petition_id).values(
                full_name="", cnie_encrypted=b"", cnie_hmac="anon", user_id=None, paper_sheet_ref=None,
                public_name=False, client_hash=None))
            await session.execute(update(Petition).where(Petition.id == petition_id).values(anonymised_at=now))
            await audit.record(session, actor_id=None, action="signatures:anonymise", subject_type="petition",
                               subject_id=petition_id, now=now, detail={"signatures": len(signature_ids)})
    return ids
