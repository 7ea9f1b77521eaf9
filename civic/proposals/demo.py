"""Demo proposals for ``civic demo`` (issue #4): made-up content, created through the services.

In the given consultation, whose current phase must allow proposals: four proposals in Arabic and one in French,
the second on behalf of the demo association; supports and comments (with a reply) when the phase allows them;
and an official answer ``under_evaluation`` by council staff on the first. Proposal 4, by 'citizen2', gets no
support or comment, so its author can still edit it (the accessibility walk visits its edit page).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from civic.consultations import service as consultations
from civic.db import reading
from civic.permissions import Action, Actor
from civic.proposals import comments, service, supports
from civic.settings import Settings

# (author key, title, body, category, territory code or '' for the author's commune, for the association)
PROPOSALS = (
    ("citizen", "حافلة مدرسية وقروية تربط الدواوير بمركز الجماعة",
     "يقطع كثير من التلاميذ والشباب في الدواوير البعيدة عدة كيلومترات مشيا للوصول إلى المدرسة أو إلى مركز "
     "الجماعة، خاصة في فصل الشتاء.\n\nنقترح أن يمول مجلس الجهة، بشراكة مع الجماعات، خط نقل يومي منتظم يربط "
     "الدواوير بمركز الجماعة، بمواعيد تناسب الدراسة والعمل، وبأسعار مخفضة للتلاميذ والطلبة.",
     "transport", "", False),
    ("cso", "مركز للتكوين الفلاحي للشباب القروي",
     "يعيش أغلب شباب الجماعات الجبلية من الفلاحة، لكنهم لا يجدون تكوينا قريبا في تقنيات الري وتربية النحل "
     "وتثمين المنتوجات المحلية.\n\nنقترح إحداث مركز جهوي للتكوين الفلاحي بتداريب قصيرة مجانية، مع مواكبة "
     "الشباب في إنشاء تعاونيات.",
     "employment", "", True),
    ("citizen", "Des terrains de sport de proximité dans les centres ruraux",
     "Les jeunes des centres ruraux n'ont souvent aucun terrain de sport aménagé.\n\nNous proposons que la Région "
     "finance, avec les communes, un terrain multisport éclairé dans chaque centre rural, ouvert aux filles "
     "comme aux garçons, avec des créneaux réservés aux associations.",
     "culture_sport", "", False),
    ("citizen2", "نقاط للماء الصالح للشرب في الدواوير المعزولة",
     "ما تزال بعض الدواوير تعتمد على الآبار والعيون التي تجف في الصيف.\n\nنقترح تجهيز نقاط للماء الصالح للشرب "
     "بالطاقة الشمسية في الدواوير المعزولة، وتكوين لجان محلية لصيانتها.",
     "water_environment", "", False),
)


async def load(session: AsyncSession, settings: Settings, consultation_id: int, people: dict[str, Actor],
               now: datetime) -> list[int]:
    """Create the demo proposals of ``consultation_id`` as ``people`` ('citizen', 'citizen2', 'cso', 'staff');
    returns their ids in order (the first is by 'citizen'). Every service call uses a time inside the current
    phase, at most ``now``. Returns [] when the current phase does not allow proposals. Not idempotent (the
    caller guards it)."""
    async with reading(session):
        phase = await consultations.current_phase(session, consultation_id, now)
        if phase is None or service.phase_refusal(Action.PROPOSAL_CREATE, phase, now) is not None:
            return []
        starts_at, supports_on, comments_on = phase.starts_at, phase.supports_enabled, phase.comments_enabled
    start = max(starts_at, now - timedelta(days=5))
    step = (now - start) / 20  # every action strictly inside [start, now]
    moment = iter(start + step * (i + 1) for i in range(19))
    organisations = await service.member_organisations(session, people["cso"])
    ids = []
    for author, title, body, category, territory, on_behalf in PROPOSALS:
        organisation_id = int(organisations[0].id) if on_behalf and organisations else None
        ids.append(await service.submit(session, people[author], consultation_id, service.ProposalInput(
            title, body, category, territory, organisation_id), settings.region, next(moment)))
    first, second, third, _fourth = ids
    if supports_on:
        for who, proposal_id in (("citizen2", first), ("cso", first), ("citizen", second), ("citizen2", third)):
            await supports.support(session, people[who], proposal_id, next(moment))
    if comments_on:
        top = await comments.comment_on_proposal(session, people["citizen2"], first, comments.CommentInput(
            "فكرة ممتازة، ابنتي تمشي ساعة كل صباح للوصول إلى الإعدادية.", "for"), next(moment))
        await comments.comment_on_proposal(session, people["cso"], first, comments.CommentInput(
            "نتفق، ويجب أن تكون الحافلات ميسرة للأشخاص في وضعية إعاقة.", "neutral", top), next(moment))
        await comments.comment_on_proposal(session, people["citizen2"], second, comments.CommentInput(
            "التكوين مهم، لكن الأولوية عندي للطرق القروية.", "against"), next(moment))
        await comments.comment_on_consultation(session, people["citizen"], consultation_id, comments.CommentInput(
            "هل ستنظم لقاءات المنتدى في الجماعات الجبلية أيضا؟", "neutral"), next(moment))
    await service.answer(session, people["staff"], first, "under_evaluation",
                         "توصلت هيئة الشباب بالمقترح، وتدرسه المصالح التقنية للجهة مع الجماعات المعنية. "
                         "سننشر جوابا مفصلا بعد مرحلة التداول.", next(moment), settings.base_url)
    return ids
