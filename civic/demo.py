"""Demo content for ``civic demo``: accounts of each role and a realistic petition with signatures.

Every identity here is made up. Idempotent: running it twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civic.accounts import service as accounts
from civic.accounts.models import User
from civic.consultations import demo as consultations_demo
from civic.consultations import meetings
from civic.consultations.models import Consultation
from civic.db import utcnow
from civic.moderation import demo as moderation_demo
from civic.organisations import service as organisations
from civic.permissions import Actor
from civic.petitions import lifecycle
from civic.petitions import service as petitions
from civic.petitions.models import Petition
from civic.proposals import demo as proposals_demo
from civic.security import Keys
from civic.settings import Settings
from civic.territories import service as territories
from civic.votes import service as votes

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - documented demo password, demo accounts only
DEMO_ACCOUNTS = (
    ("Fatima Zahra (demo)", "citizen@demo.civic.ma", "citizen", "05.091.01.01"),
    ("Youssef (demo)", "citizen2@demo.civic.ma", "citizen", "05.301.01.01"),
    ("Jamila, association member (demo)", "cso@demo.civic.ma", "cso_member", "05.081.01.01"),
    ("Moderator (demo)", "moderator@demo.civic.ma", "moderator", "05.091.01.01"),
    ("Council staff (demo)", "staff@demo.civic.ma", "council_staff", "05.091.01.01"),
    ("Administrator (demo)", "admin@demo.civic.ma", "admin", "05.091.01.01"),
)
DEMO_TITLE = "إدراج النقل العمومي الميسر للأشخاص في وضعية إعاقة بمدينة بني ملال في جدول أعمال مجلس الجهة"
DEMO_BODY = """نحن، المواطنات والمواطنين المقيمين بجهة بني ملال-خنيفرة، نطلب من مجلس الجهة إدراج نقطة النقل العمومي الميسر للأشخاص في وضعية إعاقة في جدول أعمال دورته العادية المقبلة.

يعاني الأشخاص في وضعية إعاقة وكبار السن في بني ملال ومحيطها من صعوبة الولوج إلى الحافلات وسيارات الأجرة: لا توجد حافلات منخفضة الأرضية ولا منحدرات، ومحطات الانتظار غير مهيأة، ولا تعلن الحافلات عن المحطات صوتيا أو كتابيا.

نقترح على المجلس دراسة ما يلي في إطار اختصاصاته في مجال النقل الجهوي:
- اعتماد معايير الولوجية في دفتر تحملات النقل بين الجماعات؛
- تهيئة المحطات الرئيسية بمنحدرات وممرات لمسية ولوحات واضحة؛
- تخصيص ميزانية لاقتناء حافلات منخفضة الأرضية بشراكة مع الجماعات المعنية؛
- إشراك جمعيات الأشخاص في وضعية إعاقة في تتبع التنفيذ.

إن الحق في التنقل شرط للحق في التعليم والعمل والصحة والمشاركة في الحياة العامة."""

# (full name, CNIE, commune code): made-up signatories spread over the five provinces.
DEMO_SIGNATORIES = (
    ("أمينة العلوي", "ZZ100001", "05.091.01.01"), ("محمد بنعلي", "ZZ100002", "05.091.01.07"),
    ("خديجة أيت أحمد", "ZZ100003", "05.081.01.01"), ("حسن أوبلا", "ZZ100004", "05.081.03.07"),
    ("نادية الصديقي", "ZZ100005", "05.255.01.05"), ("رشيد الإدريسي", "ZZ100006", "05.255.01.05"),
    ("إيطو أمزيان", "ZZ100007", "05.301.01.01"), ("موحى أوحمو", "ZZ100008", "05.301.01.01"),
    ("سعاد الفاسي", "ZZ100009", "05.311.01.07"), ("عبد الله الشرقاوي", "ZZ100010", "05.311.01.01"),
    ("زينب الحسني", "ZZ100011", "05.091.01.01"), ("يوسف المرابط", "ZZ100012", "05.311.01.01"),
)


async def _ensure_user(session: AsyncSession, name: str, email: str, role: str, commune: str,
                       settings: Settings) -> int:
    existing = await session.scalar(select(User.id).where(User.email == email))
    await session.rollback()
    if existing is not None:
        return int(existing)
    return await accounts.create_user(session, display_name=name, email=email, password=DEMO_PASSWORD, role=role,
                                      commune_code=commune, now=utcnow(), region_code=settings.region)


async def load_demo(session: AsyncSession, settings: Settings) -> str:
    """Load the demo accounts and petition; returns a one-line summary. Needs territories loaded first."""
    provinces = await territories.provinces(session, settings.region)
    await session.rollback()
    if not provinces:
        await territories.load_territories(session, settings.region)
    known = {c.code for _p, cs in await territories.communes_by_province(session, settings.region) for c in cs}
    await session.rollback()
    ids = {}
    for name, email, role, commune in DEMO_ACCOUNTS:
        if commune not in known:  # another region: use its first commune
            commune = sorted(known)[0]
        ids[email] = await _ensure_user(session, name, email, role, commune, settings)
    existing = await session.scalar(select(Petition.id).where(Petition.title == DEMO_TITLE))
    await session.rollback()
    if existing is not None:
        summary = f"demo already loaded: petition {existing}, {len(DEMO_ACCOUNTS)} accounts (password {DEMO_PASSWORD})"
    else:
        summary = await _load_petition(session, settings, ids, known)
    return summary + "; " + await _load_consultations(session, settings, ids)


async def _actor(session: AsyncSession, user_id: int) -> Actor:
    row = (await session.execute(select(User.id, User.role, User.display_name).where(User.id == user_id))).one()
    await session.rollback()
    return Actor(row.id, row.role, row.display_name)


async def _load_consultations(session: AsyncSession, settings: Settings, ids: dict[str, int]) -> str:
    """The demo consultations (issue #4): a regional youth forum in its proposals phase with proposals,
    supports, comments and an answer, forum meetings with a waiting list, and a provincial consultation."""
    existing = await session.scalar(select(func.count()).select_from(Consultation))
    await session.rollback()
    if existing:
        return f"{existing} consultations already loaded"
    now = utcnow()
    staff = await _actor(session, ids["staff@demo.civic.ma"])
    people = {key: await _actor(session, ids[f"{key}@demo.civic.ma"]) for key in ("citizen", "citizen2", "cso")}
    people["staff"] = staff
    signatory = await session.scalar(select(User.id).where(User.email == "signatory1@demo.civic.ma"))
    await session.rollback()
    attendees = [people["citizen"], people["citizen2"], people["cso"]]
    if signatory is not None:
        attendees.append(await _actor(session, int(signatory)))
    consultation_ids = await consultations_demo.load(session, settings, staff, now)
    forum = consultation_ids[0]
    await meetings.load_demo(session, settings, forum, staff, attendees, now)
    proposal_ids = await proposals_demo.load(session, settings, forum, people, now)
    await votes.load_demo(session, settings, forum, staff, attendees, now)
    return (f"{len(consultation_ids)} consultations with {len(proposal_ids)} proposals, forum meetings and a "
            "ballot")


async def _load_petition(session: AsyncSession, settings: Settings, ids: dict[str, int], known: set[str]) -> str:
    """The demo petition with signatures and a verified association allowed to collect (issues #2, #3)."""
    author = Actor(ids["citizen2@demo.civic.ma"], "citizen", "Youssef (demo)")
    start = utcnow() - timedelta(days=12)
    petition_id = await petitions.create_petition(
        session, author, petitions.PetitionDraft(DEMO_TITLE, DEMO_BODY, "body_equality"), settings.region, start)
    await lifecycle.transition(session, author, petition_id, "collecting", lifecycle.TransitionInput(),
                               settings.petition_rules, start + timedelta(hours=1))
    keys = Keys(settings.secret_key)
    for i, (name, cnie, commune) in enumerate(DEMO_SIGNATORIES):
        if commune not in known:
            commune = sorted(known)[i % len(known)]
        email = f"signatory{i + 1}@demo.civic.ma"
        user_id = await _ensure_user(session, name, email, "citizen", commune, settings)
        await petitions.sign(session, Actor(user_id, "citizen", name), keys, petition_id, petitions.SignatureInput(
            full_name=name, cnie=cnie, commune_code=commune, electoral_declaration=True, consent=True,
        ), start + timedelta(days=1, hours=i))
    await session.execute(update(Petition).where(Petition.id == petition_id).values(
        deputy_id=ids["citizen@demo.civic.ma"]))
    await session.commit()
    cso = Actor(ids["cso@demo.civic.ma"], "cso_member", "Jamila")
    staff = Actor(ids["staff@demo.civic.ma"], "council_staff", "Council staff (demo)")
    seat = "05.301.01.01" if "05.301.01.01" in known else sorted(known)[0]
    org_id = await organisations.register(session, cso, organisations.OrganisationInput(
        "جمعية الأمل للأشخاص في وضعية إعاقة", "Association Al Amal des personnes en situation de handicap",
        "RD-KH-2014-117", "2014-05-12", seat,
        "مواكبة الأشخاص في وضعية إعاقة وأسرهم في إقليم خنيفرة والترافع من أجل الولوجيات."), settings.region, start)
    await organisations.verify(session, staff, org_id, organisations.VerificationInput(
        True, True, True, True, "النظام الأساسي 2014؛ الوصل النهائي رقم 117"), start)
    await organisations.authorise_organisation(session, author, petition_id, org_id, start)
    await organisations.link_collector(session, cso, org_id, petition_id, cso.user_id or 0, start)
    signatory = await _actor(session, await _ensure_user(session, DEMO_SIGNATORIES[0][0], "signatory1@demo.civic.ma",
                                                         "citizen", DEMO_SIGNATORIES[0][2], settings))
    await moderation_demo.load(session, settings, petition_id, [signatory, cso], utcnow())
    return (f"demo loaded: petition {petition_id} with {len(DEMO_SIGNATORIES)} signatures, a verified "
            f"association, {len(DEMO_ACCOUNTS)} accounts (password {DEMO_PASSWORD})")
