"""Signatures waiting for their account's email to be verified (issue #8, item 4).

An account whose email is not verified may sign: the signature is stored in ``pending_signatures`` (same
personal fields, encrypted the same way), answered exactly like a counted one, and not counted. When the email
is verified (civic.accounts.verification), ``promote`` moves the account's pending signatures into
``signatures`` — only for petitions still collecting and within their period — with the same rules as
civic.petitions.service.sign: INSERT … ON CONFLICT DO NOTHING on the CNIE index, and a CNIE that already
signed from another account becomes a SignatureFlag (reason ``cnie_used_by_other_account``).

Both functions run inside the caller's open transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from civic.db import dialect_name
from civic.petitions.models import PendingSignature, Petition, Signature, SignatureFlag


def _dialect_insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


async def store(session: AsyncSession, values: dict[str, object]) -> bool:
    """Insert one pending signature; returns False when the account already has one on this petition.

    values: the PendingSignature columns (petition_id, user_id, full_name, cnie_hmac, cnie_encrypted,
    commune_code, province_code, electoral_declaration, consent_at, created_at, public_name, client_hash).
    The unique index (petition_id, user_id) decides, even under concurrency.
    """
    inserted = await session.execute(
        _dialect_insert(session)(PendingSignature).values(**values)
        .on_conflict_do_nothing().returning(PendingSignature.id))
    return inserted.first() is not None


async def exists_for(session: AsyncSession, user_id: int, petition_id: int) -> bool:
    """True when the account has a pending signature on the petition."""
    return bool(await session.scalar(select(exists().where(
        PendingSignature.petition_id == petition_id, PendingSignature.user_id == user_id))))


async def promote(session: AsyncSession, user_id: int, now: datetime) -> int:
    """Move the account's pending signatures into ``signatures``; returns how many now count.

    Only for petitions collecting at ``now`` (status ``collecting``, collection_ends_at not passed). Call it only
    from the one transaction whose ``UPDATE users SET email_verified_at … WHERE email_verified_at IS NULL``
    changed a row, so concurrent verifications move the rows once. Every pending row of the account is then
    deleted (the ones on petitions no longer collecting are not kept: Law 09-08, keep no more than needed).
    """
    rows = (await session.execute(
        select(PendingSignature).join(Petition, Petition.id == PendingSignature.petition_id)
        .where(PendingSignature.user_id == user_id, Petition.status == "collecting",
               or_(Petition.collection_ends_at.is_(None), Petition.collection_ends_at >= now))
        .order_by(PendingSignature.id)
    )).scalars().all()
    counted = 0
    for row in rows:
        inserted = (await session.execute(_dialect_insert(session)(Signature).values(
            petition_id=row.petition_id, user_id=user_id, full_name=row.full_name, cnie_hmac=row.cnie_hmac,
            cnie_encrypted=row.cnie_encrypted, commune_code=row.commune_code, province_code=row.province_code,
            electoral_declaration=row.electoral_declaration, consent_at=row.consent_at, channel="online",
            created_at=row.created_at, public_name=row.public_name, client_hash=row.client_hash,
        ).on_conflict_do_nothing().returning(Signature.id))).first()
        if inserted is not None:
            # A submission may have committed meanwhile (see service.still_collecting): then it does not count.
            status = await session.scalar(select(Petition.status).where(Petition.id == row.petition_id))
            if status != "collecting":
                await session.execute(delete(Signature).where(Signature.id == inserted[0]))
            else:
                counted += 1
            continue
        own = await session.scalar(select(
            exists().where(Signature.petition_id == row.petition_id, Signature.user_id == user_id)
            | exists().where(SignatureFlag.petition_id == row.petition_id, SignatureFlag.user_id == user_id)))
        if own:
            continue
        await session.execute(insert(SignatureFlag).values(
            petition_id=row.petition_id, user_id=user_id, cnie_hmac=row.cnie_hmac,
            reason="cnie_used_by_other_account", created_at=now, full_name=row.full_name,
            cnie_encrypted=row.cnie_encrypted, commune_code=row.commune_code, public_name=row.public_name,
            electoral_declaration=row.electoral_declaration,
        ))
    await session.execute(delete(PendingSignature).where(PendingSignature.user_id == user_id))
    return counted


async def discard_stale(session: AsyncSession, now: datetime) -> int:
    """Delete the pending signatures that can no longer count (their petition is not collecting at ``now``, or its
    period is over); returns how many. Law 09-08 (domain.md §3): personal data kept no longer than needed. Runs
    its own transaction; meant for the scheduled jobs (not wired yet)."""
    stale = select(Petition.id).where(or_(
        Petition.status != "collecting",
        (Petition.collection_ends_at.is_not(None)) & (Petition.collection_ends_at < now)))
    async with session.begin():
        result = await session.execute(delete(PendingSignature).where(PendingSignature.petition_id.in_(stale)))
    return int(result.rowcount)  # type: ignore[attr-defined]
