"""Concurrent signing: the database's unique indexes decide, never Python (design.md, constraints)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from civic.petitions import service
from civic.petitions.models import Signature
from tests.conftest import NOW, make_user
from tests.test_petitions_service import open_petition, signature

COMMUNES = ["05.091.01.01", "05.081.01.01", "05.255.01.05", "05.301.01.01", "05.311.01.07"]


async def test_50_simultaneous_signatures_with_10_reused_cnies(sessionmaker, keys) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        author = await make_user(s, 1)
        pid = await open_petition(s, author)
        signers = [await make_user(s, 100 + i, commune=COMMUNES[i % 5]) for i in range(50)]
    # 40 distinct CNIEs; signers 40..49 reuse the CNIEs of signers 0..9 (in another spelling).
    cnies = [f"RC{i:05d}" for i in range(40)] + [f"rc {i:05d}" for i in range(10)]

    async def one(i: int) -> service.SignOutcome:
        async with sessionmaker() as s:
            return await service.sign(s, signers[i], keys, pid, signature(cnies[i], COMMUNES[i % 5]), NOW)

    outcomes = await asyncio.gather(*(one(i) for i in range(50)))
    assert outcomes.count(service.SignOutcome.SIGNED) == 50  # reused CNIEs get the same answer
    async with sessionmaker() as s:
        stored = await s.scalar(select(func.count()).select_from(Signature).where(Signature.petition_id == pid))
        view = await service.get_petition(s, author, pid, service.PetitionRules())
        shown = (await service.tally(s, view, "05")).total
    assert stored == 40
    assert shown == stored
