"""Demo consultations for ``civic demo`` (issue #4): made-up content, created through the services.

1. The regional forum on youth employment and rural mobility (body for young people's concerns, whole region,
   3 supports per person): information phase done, the proposals phase current (proposals, supports and
   comments allowed), then deliberation, voting and results.
2. Women's access to health services in the province of Azilal (body for equity, equal opportunities and the
   gender approach): the information phase current (no participation yet), a proposals phase after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from civic.consultations import service
from civic.permissions import Actor
from civic.settings import Settings
from civic.territories import service as territories

YOUTH_TITLE = "المنتدى الجهوي حول تشغيل الشباب والتنقل في العالم القروي"
YOUTH_SUMMARY = ("يدعو مجلس الجهة الشابات والشباب إلى تقديم مقترحاتهم حول فرص الشغل والتنقل بين الدواوير "
                 "والمراكز الحضرية، قبل جلسات المنتدى الجهوي.")
YOUTH_BODY = "\n\n".join((
    "تنظم هيئة تتبع قضايا الشباب لدى مجلس جهة بني ملال-خنيفرة منتدى جهويا تشاوريا حول "
    "موضوعين مترابطين: تشغيل الشباب، والتنقل في العالم القروي.",
    "يجد كثير من الشباب في الجماعات القروية صعوبة في الوصول إلى مراكز التكوين وفرص "
    "الشغل بسبب بعد المسافات وقلة وسائل النقل وكلفتها. ويرغب المجلس في الاستماع إلى "
    "اقتراحاتكم العملية قبل إعداد برنامج العمل المقبل.",
    "كيف تشاركون:\n"
    "- اقرؤوا الوثائق المرفقة واحضروا لقاءات المنتدى في الأقاليم؛\n"
    "- قدموا مقترحاتكم خلال مرحلة المقترحات، وادعموا المقترحات التي تتفقون معها "
    "(ثلاثة مقترحات على الأكثر لكل شخص)؛\n"
    "- ناقشوا المقترحات بالتعليق عليها.",
    "ستدرس الهيئة المقترحات الأكثر دعما وترفع توصياتها إلى المجلس، الذي يجيب علنا عن "
    "كل مقترح.",
))
YOUTH_EASY = """هذه استشارة للشباب.
موضوعها: العمل، والتنقل في القرى.
يمكنكم الآن كتابة مقترح، ودعم ثلاثة مقترحات، والتعليق.
المجلس سيجيب عن المقترحات."""
HEALTH_TITLE = "ولوج النساء إلى الخدمات الصحية بإقليم أزيلال"
HEALTH_SUMMARY = ("استشارة حول صعوبات ولوج النساء إلى المراكز الصحية ودور الولادة في الجماعات الجبلية "
                  "لإقليم أزيلال. مرحلة الإخبار جارية.")
HEALTH_BODY = "\n\n".join((
    "تطلق هيئة المساواة وتكافؤ الفرص ومقاربة النوع لدى مجلس الجهة استشارة حول ولوج "
    "النساء إلى الخدمات الصحية بإقليم أزيلال.",
    "تواجه النساء في الجماعات الجبلية بعد المراكز الصحية ودور الولادة، وصعوبة التنقل "
    "في فصل الشتاء، ونقص الأطر الصحية النسائية. وتنشر الهيئة في مرحلة الإخبار الحالية "
    "المعطيات المتوفرة وتنظم لقاءات تعريفية.",
    "ستفتح مرحلة المقترحات بعد انتهاء مرحلة الإخبار، ويمكن حينها للمواطنات والمواطنين "
    "والجمعيات تقديم مقترحاتهم ودعمها.",
))
AZILAL_NAME_FR = "Azilal"


async def load(session: AsyncSession, settings: Settings, staff: Actor, now: datetime) -> list[int]:
    """Create the two demo consultations with their phases, as ``staff`` (council_staff or admin), dated around
    ``now``; returns their ids, the youth forum first. Not idempotent (the caller guards it)."""

    def local(days: int) -> str:
        return service.local_input_value(now + timedelta(days=days))

    youth_id = await service.create_consultation(session, staff, service.ConsultationInput(
        title=YOUTH_TITLE, summary=YOUTH_SUMMARY, body=YOUTH_BODY, easy_read=YOUTH_EASY, scope="region",
        territory_code="", addressed_to="body_youth", support_limit="3"), settings.region, now)
    for kind, start, end in (("information", -30, -10), ("proposals", -10, 20), ("deliberation", 20, 35),
                             ("voting", 35, 45), ("results", 45, 75)):
        await service.add_phase(session, staff, youth_id, service.PhaseInput.defaults(kind, local(start), local(end)),
                                now)

    provinces = await territories.provinces(session, settings.region)
    province = next((p for p in provinces if p.name_fr == AZILAL_NAME_FR), provinces[0])
    health_id = await service.create_consultation(session, staff, service.ConsultationInput(
        title=HEALTH_TITLE if province.name_fr == AZILAL_NAME_FR else HEALTH_TITLE.replace("بإقليم أزيلال", "").strip(),
        summary=HEALTH_SUMMARY, body=HEALTH_BODY, easy_read="", scope="province", territory_code=province.code,
        addressed_to="body_equality", support_limit="5"), settings.region, now)
    for kind, start, end in (("information", -5, 25), ("proposals", 25, 55)):
        await service.add_phase(session, staff, health_id, service.PhaseInput.defaults(kind, local(start), local(end)),
                                now)
    return [youth_id, health_id]
