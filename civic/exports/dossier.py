"""The dossier of a petition for deposit with the council, and its receipt (issue #3).

A dossier gathers what was filed: the text, who files it (agent, deputy, association), the rule set in force
(Organic Law 111-14, stored at publication), the counts per province against the minimum, and the receipt.
The public dossier holds no personal data at all (no signatory's name, CNIE or email; shared/domain.md §3).
The personal dossier adds the signature list, for council staff only: access is checked and written to the
audit log (``signatures:export_personal``) by ``petitions.service.open_signatures`` before any row is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from civic.errors import Conflict, Forbidden, NotSignedIn
from civic.i18n import N_
from civic.permissions import Action, Actor, can
from civic.petitions import lifecycle
from civic.petitions import service as petitions
from civic.petitions.rules import RuleSet
from civic.petitions.service import PetitionView, ProvinceCount, SignatureRecord
from civic.security import Keys
from civic.settings import PetitionRules

LEGAL_SOURCE = N_("Organic Law 111-14 on regions")
CENSUS_CREDIT = N_("Territories and population: HCP, RGPH 2024 (CC BY 4.0)")
KIND_LABELS = {"citizen": N_("Citizens' petition"), "association": N_("Association petition")}
# The same msgids as the ``addressee_name`` macro in templates/_macros.html.
ADDRESSEE_LABELS = {
    "council": N_("The regional council"),
    "body_equality": N_("The body for equity, equal opportunities and the gender approach"),
    "body_youth": N_("The body for young people's concerns"),
    "body_economic": N_("The body for regional economic matters"),
}


@dataclass(frozen=True)
class Receipt:
    """The receipt given when the petition was filed with the council president (domain.md §2).

    digest: SHA-256 (hex) of what was filed (``lifecycle.receipt_digest``). examination_due_at: the date by
    which the bureau notifies its decision (receipt + 2 months for a region).
    """

    petition_id: int
    title: str
    addressed_to: str
    kind: str
    organisation_name_ar: str
    organisation_name_fr: str
    number: str
    digest: str
    submitted_at: datetime
    submitted_count: int
    examination_due_at: datetime | None


@dataclass(frozen=True)
class Dossier:
    """Everything a dossier export shows. ``signatures`` is empty unless ``personal`` (staff only)."""

    petition_id: int
    kind: str
    title: str
    body: str
    addressed_to: str
    status: str
    region_code: str
    created_at: datetime
    published_at: datetime | None
    collection_ends_at: datetime | None
    agent_name: str
    deputy_name: str
    organisation_name_ar: str
    organisation_name_fr: str
    rules: RuleSet
    provinces: tuple[ProvinceCount, ...]
    total: int
    threshold_met: bool
    spread_met: bool
    receipt: Receipt | None
    generated_at: datetime
    personal: bool
    signatures: tuple[SignatureRecord, ...] = ()


def _require_personal_export(actor: Actor, now: datetime) -> None:
    if not actor.signed_in:
        raise NotSignedIn()
    if not (can(actor, Action.SIGNATURES_VIEW_PERSONAL, None, now) and can(actor, Action.EXPORTS_PERSONAL, None, now)):
        raise Forbidden()


def _receipt(p: PetitionView, proc: lifecycle.Procedure) -> Receipt | None:
    if proc.receipt_number is None or proc.submitted_at is None:
        return None
    return Receipt(
        petition_id=p.id, title=p.title, addressed_to=p.addressed_to, kind=proc.kind,
        organisation_name_ar=proc.organisation_name_ar, organisation_name_fr=proc.organisation_name_fr,
        number=proc.receipt_number, digest=proc.receipt_digest or "", submitted_at=proc.submitted_at,
        submitted_count=proc.submitted_count or 0, examination_due_at=proc.examination_due_at,
    )


async def dossier(session: AsyncSession, actor: Actor, keys: Keys, petition_id: int, now: datetime,
                  personal: bool, rules: PetitionRules, region_code: str) -> Dossier:
    """The dossier of a petition; with ``personal``, its signatures too (council staff; audited).

    Raises NotSignedIn and Forbidden (personal version, not council staff: checked first), NotFound (no
    such petition, or a draft the actor may not see; ``petitions.service.get_petition`` decides).
    The counts and the signature list are read in two short transactions; while a petition still collects,
    a signature given in between may appear in one and not the other.
    """
    if personal:
        _require_personal_export(actor, now)
    view = await petitions.get_petition(session, actor, petition_id, rules)
    proc = await lifecycle.procedure(session, petition_id)
    tally = await petitions.tally(session, view, region_code)
    signatures: tuple[SignatureRecord, ...] = ()
    if personal:
        records = await petitions.open_signatures(session, actor, keys, petition_id, now, purpose="export")
        signatures = tuple([r async for r in records])
    return Dossier(
        petition_id=view.id, kind=proc.kind, title=view.title, body=view.body, addressed_to=view.addressed_to,
        status=view.status, region_code=region_code, created_at=view.created_at, published_at=view.published_at,
        collection_ends_at=view.collection_ends_at, agent_name=proc.agent_name, deputy_name=proc.deputy_name,
        organisation_name_ar=proc.organisation_name_ar, organisation_name_fr=proc.organisation_name_fr,
        rules=view.rules, provinces=tuple(tally.provinces), total=tally.total, threshold_met=tally.threshold_met,
        spread_met=tally.spread_met, receipt=_receipt(view, proc), generated_at=now, personal=personal,
        signatures=signatures,
    )


async def receipt(session: AsyncSession, actor: Actor, petition_id: int, rules: PetitionRules) -> Receipt:
    """The receipt of a filed petition (public: no personal data).

    Raises NotFound (no such petition, or a draft the actor may not see) and Conflict (not filed yet: the
    petition has no receipt before it is submitted).
    """
    view = await petitions.get_petition(session, actor, petition_id, rules)
    result = _receipt(view, await lifecycle.procedure(session, petition_id))
    if result is None:
        raise Conflict(N_("This petition has not been filed with the council yet, so it has no receipt."))
    return result
