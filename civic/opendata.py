"""Open data: the bundle of CSV files with its README, and the OpenAPI description of the JSON API
(issue #6, item 8).

The bundle ``civic-open-data.zip`` holds consultations.csv, proposals.csv, petitions.csv (counts only),
results.csv and territories.csv (with the 2024 census population), and README.txt describing every column in
Arabic and French. It is built on demand (``/open-data/civic-open-data.zip``) or by ``civic opendata build``
(nightly, from cron). Each CSV is written from a streamed query into a spooled temporary file, then the zip is
streamed (zipstream-ng), so memory stays flat whatever the size.

No personal data, ever (issue #6, item 8; shared/domain.md §3): no signatory, no e-mail, no CNIE, no account
name. Proposal authors are left out too: their display names show on proposal pages, but a bulk, permanent,
freely reusable file is another purpose (Law 09-08), so only the organisation a proposal was submitted for
appears. Hidden or withdrawn proposals, hidden comments and hidden, draft or never-published petitions are
left out (one filter each: ``proposals.service.visible_proposals``, ``visible_comments``,
``exports.centre.visible_petitions``). Results appear only once their consultation shows them
(``civic.votes.results.ballot_results`` and its visibility rule; issue #5); until then results.csv has its
header only.

Licence: the Open Database License (ODbL) 1.0, the project stating no other licence for its data; the
territories and census figures keep theirs: HCP, RGPH 2024 (CC BY 4.0).

Column descriptions are written here in Arabic and French (not message ids): the README is a published
document in both languages whatever the visitor's language, and the open-data page shows the same text.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute, Route

from civic.consultations.models import Consultation
from civic.db import reading
from civic.exports import centre
from civic.exports.streaming import Column, Row, csv_chunks, stream_rows
from civic.petitions.models import Petition
from civic.proposals.models import Proposal
from civic.proposals.service import visible_proposals
from civic.territories import service as territories
from civic.territories.models import Territory

BUNDLE_NAME = "civic-open-data.zip"
LICENCE_NAME = "Open Database License (ODbL) 1.0"
LICENCE_URL = "https://opendatacommons.org/licenses/odbl/1-0/"
CENSUS_LICENCE = "HCP, RGPH 2024 (CC BY 4.0)"
SPOOL_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class DocColumn:
    """One column of an open-data file: its header and what it holds, in Arabic and in French."""

    key: str
    ar: str
    fr: str


@dataclass(frozen=True)
class OpenFile:
    """One CSV file of the bundle: its name, what it holds (Arabic, French), and its columns."""

    name: str
    ar: str
    fr: str
    columns: tuple[DocColumn, ...]

    @property
    def csv_columns(self) -> tuple[Column, ...]:
        """The columns for the CSV writer (headers are the keys)."""
        return tuple(Column(c.key, c.key) for c in self.columns)

    def description(self, language: str) -> str:
        """What the file holds, in Arabic for ``ar``, in French otherwise (no Tifinagh text here)."""
        return self.ar if language == "ar" else self.fr


_UTC_AR = "(ISO 8601، بالتوقيت العالمي UTC)"
_UTC_FR = "(ISO 8601, en UTC)"
_ADDRESSEES_AR = ("الجهة الموجهة إليها: council (مجلس الجهة)، body_equality (هيئة المساواة وتكافؤ الفرص ومقاربة "
                  "النوع)، body_youth (هيئة قضايا الشباب)، body_economic (هيئة القضايا الاقتصادية الجهوية)")
_ADDRESSEES_FR = ("Destinataire : council (conseil régional), body_equality (instance de l'équité, de l'égalité "
                  "des chances et de l'approche genre), body_youth (instance des questions des jeunes), "
                  "body_economic (instance des questions économiques régionales)")
_TERRITORY_AR = "رمز المجال الترابي المعني (انظر territories.csv)"
_TERRITORY_FR = "Code du territoire concerné (voir territories.csv)"

CONSULTATIONS = OpenFile(
    "consultations.csv", "الاستشارات العمومية للمجلس وهيئاته الاستشارية، مع المرحلة الجارية وعدد المقترحات والتعليقات.",
    "Les consultations du conseil et de ses instances consultatives, avec la phase en cours et le nombre de "
    "propositions et de commentaires.",
    (
        DocColumn("id", "رقم الاستشارة", "Numéro de la consultation"),
        DocColumn("title", "عنوان الاستشارة", "Titre de la consultation"),
        DocColumn("summary", "ملخص الاستشارة", "Résumé de la consultation"),
        DocColumn("scope", "نطاق الاستشارة: region (الجهة كلها) أو province (إقليم) أو commune (جماعة)",
                  "Portée : region (toute la région), province ou commune"),
        DocColumn("territory_code", _TERRITORY_AR, _TERRITORY_FR),
        DocColumn("addressed_to", _ADDRESSEES_AR, _ADDRESSEES_FR),
        DocColumn("support_limit", "عدد المقترحات التي يمكن لكل شخص أن يدعمها",
                  "Nombre de propositions qu'une personne peut soutenir"),
        DocColumn("current_phase", "المرحلة الجارية عند إعداد الملف: information أو proposals أو deliberation أو "
                  "voting أو results أو follow_up؛ فارغة خارج المراحل",
                  "Phase en cours à la création du fichier : information, proposals, deliberation, voting, "
                  "results ou follow_up ; vide en dehors des phases"),
        DocColumn("proposals", "عدد المقترحات المنشورة (دون المقترحات المخفية أو المسحوبة)",
                  "Nombre de propositions publiées (hors propositions masquées ou retirées)"),
        DocColumn("comments", "عدد التعليقات المنشورة (دون التعليقات المخفية)",
                  "Nombre de commentaires publiés (hors commentaires masqués)"),
        DocColumn("created_at", f"تاريخ الإنشاء {_UTC_AR}", f"Date de création {_UTC_FR}"),
    ),
)
PROPOSALS = OpenFile(
    "proposals.csv", "مقترحات المواطنات والمواطنين في الاستشارات، مع عدد الدعم. لا تُنشر المقترحات المخفية أو "
    "المسحوبة ولا أسماء أصحابها.",
    "Les propositions des citoyennes et citoyens dans les consultations, avec le nombre de soutiens. Les "
    "propositions masquées ou retirées et les noms de leurs auteurs ne sont pas publiés.",
    (
        DocColumn("id", "رقم المقترح", "Numéro de la proposition"),
        DocColumn("consultation_id", "رقم الاستشارة (انظر consultations.csv)",
                  "Numéro de la consultation (voir consultations.csv)"),
        DocColumn("title", "عنوان المقترح", "Titre de la proposition"),
        DocColumn("body", "نص المقترح", "Texte de la proposition"),
        DocColumn("category", "المجال: education أو health أو transport أو water_environment أو employment أو "
                  "culture_sport أو agriculture أو social_inclusion أو other",
                  "Thème : education, health, transport, water_environment, employment, culture_sport, "
                  "agriculture, social_inclusion ou other"),
        DocColumn("territory_code", _TERRITORY_AR, _TERRITORY_FR),
        DocColumn("organisation_ar", "اسم الجمعية بالعربية إذا قُدِّم المقترح باسم جمعية، وإلا فارغ",
                  "Nom en arabe de l'association au nom de laquelle la proposition est faite, sinon vide"),
        DocColumn("organisation_fr", "اسم الجمعية بالفرنسية إذا قُدِّم المقترح باسم جمعية، وإلا فارغ",
                  "Nom en français de l'association au nom de laquelle la proposition est faite, sinon vide"),
        DocColumn("status", "الحالة: published (منشور) أو under_evaluation (قيد الدراسة) أو accepted (مقبول) أو "
                  "rejected (مرفوض) أو implemented (منجز)",
                  "Statut : published (publiée), under_evaluation (à l'étude), accepted (acceptée), rejected "
                  "(rejetée) ou implemented (réalisée)"),
        DocColumn("supports", "عدد الأشخاص الذين دعموا المقترح", "Nombre de personnes qui soutiennent la proposition"),
        DocColumn("created_at", f"تاريخ النشر {_UTC_AR}", f"Date de publication {_UTC_FR}"),
        DocColumn("updated_at", f"تاريخ آخر تعديل {_UTC_AR}", f"Date de la dernière modification {_UTC_FR}"),
    ),
)
PETITIONS = OpenFile(
    "petitions.csv", "العرائض المقدمة إلى مجلس الجهة أو هيئاته (القانون التنظيمي 111.14)، مع عدد التوقيعات فقط: "
    "لا أسماء ولا أرقام بطائق.",
    "Les pétitions adressées au conseil régional ou à ses instances (loi organique 111-14), avec le nombre de "
    "signatures seulement : ni noms ni numéros de carte.",
    (
        DocColumn("id", "رقم العريضة", "Numéro de la pétition"),
        DocColumn("title", "عنوان العريضة", "Titre de la pétition"),
        DocColumn("kind", "النوع: citizen (عريضة المواطنات والمواطنين) أو association (عريضة جمعية)",
                  "Type : citizen (pétition citoyenne) ou association (pétition d'une association)"),
        DocColumn("addressed_to", _ADDRESSEES_AR, _ADDRESSEES_FR),
        DocColumn("status", "الحالة: collecting (جمع التوقيعات) أو submitted (مودعة) أو under_examination (قيد "
                  "الدراسة) أو admissible (مقبولة) أو inadmissible (غير مقبولة) أو answered (تم الرد) أو closed "
                  "(مغلقة) أو expired (انتهى أجلها) أو withdrawn (مسحوبة)",
                  "Statut : collecting (collecte des signatures), submitted (déposée), under_examination (à "
                  "l'examen), admissible (recevable), inadmissible (irrecevable), answered (réponse donnée), closed "
                  "(clôturée), expired (délai écoulé) ou withdrawn (retirée)"),
        DocColumn("created_at", f"تاريخ الإنشاء {_UTC_AR}", f"Date de création {_UTC_FR}"),
        DocColumn("published_at", f"تاريخ فتح جمع التوقيعات {_UTC_AR}", f"Début de la collecte {_UTC_FR}"),
        DocColumn("collection_ends_at", f"نهاية أجل جمع التوقيعات {_UTC_AR}", f"Fin de la collecte {_UTC_FR}"),
        DocColumn("receipt_number", "رقم وصل الإيداع لدى رئيس المجلس، فارغ قبل الإيداع",
                  "Numéro du récépissé de dépôt auprès du président du conseil, vide avant le dépôt"),
        DocColumn("submitted_at", f"تاريخ الإيداع {_UTC_AR}", f"Date du dépôt {_UTC_FR}"),
        DocColumn("examination_due_at", f"الأجل الذي يبلغ فيه المكتب قراره بشأن القبول {_UTC_AR}",
                  f"Date limite de la décision du bureau sur la recevabilité {_UTC_FR}"),
        DocColumn("signatures", "عدد التوقيعات (مجموع فقط)", "Nombre de signatures (total seulement)"),
        DocColumn("threshold", "عدد التوقيعات المطلوب", "Nombre de signatures requis"),
        DocColumn("province_minimum", "الحد الأدنى من التوقيعات المطلوب من كل إقليم",
                  "Nombre minimal de signatures requis dans chaque province"),
    ),
)
RESULTS = OpenFile(
    "results.csv", "نتائج التصويت، تُنشر فقط بعد أن تعرضها الاستشارة. الملف فارغ (العناوين فقط) ما دامت لا توجد نتائج "
    "منشورة.",
    "Les résultats des votes, publiés seulement une fois que la consultation les montre. Le fichier est vide "
    "(en-têtes seulement) tant qu'aucun résultat n'est publié.",
    (
        DocColumn("consultation_id", "رقم الاستشارة", "Numéro de la consultation"),
        DocColumn("ballot_id", "رقم الاقتراع", "Numéro du scrutin"),
        DocColumn("ballot_title", "عنوان الاقتراع", "Titre du scrutin"),
        DocColumn("question_id", "رقم السؤال", "Numéro de la question"),
        DocColumn("question", "نص السؤال", "Texte de la question"),
        DocColumn("method", "طريقة التصويت: yes_no_abstain أو single_choice أو approval أو budget",
                  "Mode de scrutin : yes_no_abstain, single_choice, approval ou budget"),
        DocColumn("option_id", "رقم الاختيار", "Numéro de l'option"),
        DocColumn("option", "نص الاختيار", "Libellé de l'option"),
        DocColumn("votes", "عدد الأصوات التي حصل عليها الاختيار", "Nombre de voix obtenues par l'option"),
    ),
)
TERRITORIES = OpenFile(
    "territories.csv",
    f"الجهة وأقاليمها وجماعاتها مع عدد السكان حسب الإحصاء العام للسكان والسكنى 2024 ({CENSUS_LICENCE}).",
    f"La région, ses provinces et ses communes, avec leur population au recensement de 2024 ({CENSUS_LICENCE}).",
    (
        DocColumn("code", "رمز المجال الترابي حسب المندوبية السامية للتخطيط", "Code du territoire selon le HCP"),
        DocColumn("kind", "النوع: region (جهة) أو province (إقليم) أو commune (جماعة)",
                  "Type : region (région), province ou commune"),
        DocColumn("parent_code", "رمز المجال الأعلى (الجهة للإقليم، الإقليم للجماعة)",
                  "Code du territoire parent (la région d'une province, la province d'une commune)"),
        DocColumn("province_code", "رمز الإقليم (فارغ بالنسبة للجهة)", "Code de la province (vide pour la région)"),
        DocColumn("name_ar", "الاسم بالعربية", "Nom en arabe"),
        DocColumn("name_fr", "الاسم بالفرنسية", "Nom en français"),
        DocColumn("commune_type", "نوع الجماعة: urban (حضرية) أو rural (قروية)؛ فارغ لغير الجماعات",
                  "Type de commune : urban (urbaine) ou rural (rurale) ; vide pour les autres territoires"),
        DocColumn("population_2024", f"عدد السكان سنة 2024 ({CENSUS_LICENCE})",
                  f"Population en 2024 ({CENSUS_LICENCE})"),
    ),
)
FILES = (CONSULTATIONS, PROPOSALS, PETITIONS, RESULTS, TERRITORIES)


# --- statements ----------------------------------------------------------------------------------------------


def _territories_statement(region_code: str) -> Select[*tuple[Any, ...]]:
    return (select(Territory.code, Territory.kind, Territory.parent_code, Territory.province_code, Territory.name_ar,
                   Territory.name_fr, Territory.commune_type, Territory.population_2024)
            .where(Territory.region_code == region_code).order_by(Territory.code))


def _statement(file: OpenFile, region_code: str, now: datetime) -> Select[*tuple[Any, ...]] | None:
    """The query of one file, in its column order; None for results.csv (no published results yet)."""
    if file is CONSULTATIONS:
        return centre.consultations_statement(now, names=False)
    if file is PROPOSALS:
        return centre.proposals_statement(None, include_withdrawn=False, names=False)
    if file is PETITIONS:
        return centre.petitions_statement(region_code)
    if file is TERRITORIES:
        return _territories_statement(region_code)
    return None  # results.csv: _result_rows


async def _result_rows(session: AsyncSession, now: datetime) -> AsyncGenerator[Row, None]:
    """One row per option of every ballot question whose results are visible at ``now``, through
    ``civic.votes.results.ballot_results`` (its ``visible`` rule decides; hidden results give no row at all:
    shared/domain.md §4, issue #5)."""
    from civic.votes import results as votes
    from civic.votes.models import Ballot

    async with reading(session):
        ballot_ids = list(await session.scalars(select(Ballot.id).order_by(Ballot.id)))
    for ballot_id in ballot_ids:
        found = await votes.ballot_results(session, ballot_id, now)
        if not found.visible:
            continue
        for question in found.results:
            for option in question.tally.options:
                yield (found.consultation.id, found.ballot.id, found.ballot.title, question.question.id,
                       question.question.text, question.tally.method, option.option_id, option.label, option.votes)


# --- the bundle ----------------------------------------------------------------------------------------------


class Bundle:
    """The bundle's files, written to spooled temporary files; ``stream()`` yields the zip, ``close()`` frees
    them. README.txt is held in memory (a few kilobytes)."""

    def __init__(self, files: list[tuple[str, IO[bytes]]], readme: str) -> None:
        self.files = files
        self.readme = readme

    def stream(self) -> Iterator[bytes]:
        """The zip, chunk by chunk (blocking: iterate it in a worker thread from async code)."""
        from zipstream import ZIP_DEFLATED, ZipStream  # type: ignore[import-untyped]

        archive = ZipStream(compress_type=ZIP_DEFLATED)
        archive.add(self.readme.encode(), "README.txt")
        for name, spool in self.files:
            archive.add(_chunks(spool), name)
        yield from archive

    def close(self) -> None:
        """Remove the temporary files."""
        for _name, spool in self.files:
            spool.close()


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """A spooled file from its start, in chunks (read when the zip gets to it)."""
    spool.seek(0)
    while data := spool.read(CHUNK_BYTES):
        yield data


async def build_bundle(session: AsyncSession, region_code: str, now: datetime) -> Bundle:
    """Read every open-data file from the database into temporary files and write the README (no personal
    data; see the module docstring). The caller streams the bundle and closes it."""
    region = await territories.region(session, region_code)
    written: list[tuple[str, IO[bytes]]] = []
    try:
        for file in FILES:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # closed by Bundle.close
            written.append((file.name, spool))
            stmt = _statement(file, region_code, now)
            rows = stream_rows(session, stmt) if stmt is not None else _result_rows(session, now)
            async for chunk in csv_chunks(file.csv_columns, rows, people=False):
                spool.write(chunk)
    except BaseException:
        Bundle(written, "").close()
        raise
    return Bundle(written, readme(region.name_ar, region.name_fr, now))


def readme(region_ar: str, region_fr: str, now: datetime) -> str:
    """README.txt: what the bundle is, its licence, and every column of every file, in Arabic then French."""
    stamp = now.astimezone(UTC).isoformat(timespec="seconds")
    lines = [
        f"Civic — البيانات المفتوحة لجهة {region_ar}",
        f"تاريخ الإعداد: {stamp}",
        f"الترخيص: {LICENCE_NAME} — {LICENCE_URL}",
        f"المجالات الترابية وعدد السكان: {CENSUS_LICENCE}",
        "الملفات بصيغة CSV (UTF-8 مع BOM، الفاصلة فاصلا). لا تتضمن أي معطيات شخصية: لا أسماء الموقعين ولا أرقام "
        "بطائقهم الوطنية ولا عناوين البريد الإلكتروني ولا أسماء الحسابات. المحتوى المخفي من طرف الإشراف غير منشور.",
        "",
    ]
    for file in FILES:
        lines += [f"{file.name} — {file.ar}", *[f"  {c.key}: {c.ar}" for c in file.columns], ""]
    lines += [
        "=" * 72,
        "",
        f"Civic — Données ouvertes de la région {region_fr}",
        f"Date de création : {stamp}",
        f"Licence : {LICENCE_NAME} — {LICENCE_URL}",
        f"Territoires et population : {CENSUS_LICENCE}",
        "Fichiers CSV (UTF-8 avec BOM, séparateur virgule). Aucune donnée personnelle : ni noms des signataires, "
        "ni numéros de CNIE, ni adresses électroniques, ni noms de comptes. Les contenus masqués par la modération "
        "ne sont pas publiés.",
        "",
    ]
    for file in FILES:
        lines += [f"{file.name} — {file.fr}", *[f"  {c.key} : {c.fr}" for c in file.columns], ""]
    return "\r\n".join(lines)


@dataclass(frozen=True)
class Summary:
    """What the open-data page shows: rows per file (not for results.csv, which would need every tally) and
    the region's names."""

    counts: dict[str, int]
    region_ar: str
    region_fr: str


async def summary(session: AsyncSession, region_code: str) -> Summary:
    """Rows in each file of the bundle, counted with the bundle's own filters."""
    region = await territories.region(session, region_code)
    async with reading(session):
        counts = {
            CONSULTATIONS.name: await session.scalar(select(func.count()).select_from(Consultation)),
            PROPOSALS.name: await session.scalar(select(func.count()).select_from(Proposal)
                                                 .where(visible_proposals())),
            PETITIONS.name: await session.scalar(select(func.count()).select_from(Petition)
                                                 .where(centre.visible_petitions(region_code))),
            TERRITORIES.name: await session.scalar(select(func.count()).select_from(Territory)
                                                   .where(Territory.region_code == region_code)),
        }
    return Summary({k: int(v or 0) for k, v in counts.items()}, region.name_ar, region.name_fr)


def write_bundle(bundle: Bundle, directory: Path) -> Path:
    """Write the zip to ``directory``/civic-open-data.zip through a temporary file renamed at the end, so a
    reader never sees half a file (``civic opendata build``). Returns the path; raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / BUNDLE_NAME
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".civic-open-data-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in bundle.stream():
                out.write(chunk)
        os.chmod(temporary, 0o644)  # a public file: readable by the web server
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


# --- OpenAPI -------------------------------------------------------------------------------------------------

API_PREFIX = "/api/v1/"
_INT = {"type": "integer", "minimum": 1}
_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}
_INT_OR_NULL = {"type": ["integer", "null"]}
_COUNT_OR_NULL = {"type": ["integer", "null"], "minimum": 0}
_SHOWN = {"type": ["integer", "string"], "description": "A count, or \"<5\" for 1 to 4 (shared/domain.md §3)."}
_PERCENT = {"type": ["number", "string", "null"], "description": "Rounded to 0.1; \"<5\" when suppressed."}
_PAGE = {"name": "page", "in": "query", "required": False, "description": "Page number, from 1.",
         "schema": {"type": "integer", "minimum": 1, "default": 1}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else list(required)}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or _TEXT}


_NAMED = _object({"id": _INT, "name_ar": _TEXT, "name_fr": _TEXT})
_TERRITORY_NAMES = _object({"code": _TEXT, "name_ar": _TEXT, "name_fr": _TEXT})
_PHASE = _object({"kind": {"enum": ["information", "proposals", "deliberation", "voting", "results", "follow_up"]},
                  "starts_at": _TIME, "ends_at": _TIME, "proposals_enabled": {"type": "boolean"},
                  "supports_enabled": {"type": "boolean"}, "comments_enabled": {"type": "boolean"},
                  "votes_enabled": {"type": "boolean"}, "results_visible": {"type": "boolean"}})
_CONSULTATION_PROPERTIES: dict[str, Any] = {
    "id": _INT, "title": _TEXT, "summary": _TEXT, "scope": {"enum": ["region", "province", "commune"]},
    "territory_code": _TEXT, "addressed_to": _TEXT, "support_limit": _INT,
    "status": {"enum": ["upcoming", "open", "closed"]},
    "current_phase": {"oneOf": [_ref("Phase"), {"type": "null"}]},
    "phases": {"type": "array", "items": _ref("Phase")},
    "counts": _object({"proposals": _COUNT, "comments": _COUNT}),
}
_PROPOSAL_ITEM_PROPERTIES: dict[str, Any] = {
    "id": _INT, "title": _TEXT, "category": _TEXT, "status": _TEXT, "territory": _ref("TerritoryNames"),
    "author": {"type": "string", "description": "The author's display name, as on the proposal's page."},
    "organisation": {"oneOf": [_ref("Organisation"), {"type": "null"}]},
    "support_count": _COUNT, "comment_count": _COUNT, "created_at": _TIME,
}
SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _TEXT, "status": {"type": "integer"}}),
    "Phase": _PHASE,
    "TerritoryNames": _TERRITORY_NAMES,
    "Organisation": _NAMED,
    "Territory": _object({"code": _TEXT, "name_ar": _TEXT, "name_fr": _TEXT, "population_2024": _COUNT}),
    "Provinces": _object({"region": _ref("Territory"), "provinces": {"type": "array", "items": _ref("Territory")},
                          "source": _TEXT, "licence": _TEXT}),
    "Petition": _object({
        "id": _INT, "title": _TEXT, "status": _TEXT, "addressed_to": _TEXT, "signature_count": _COUNT,
        "threshold": _COUNT, "province_minimum": _COUNT,
        "signatures_by_province": {"type": "object", "additionalProperties": _COUNT,
                                   "description": "Signatures per province code."},
        "created_at": _TIME, "published_at": _TIME_OR_NULL}),
    "PetitionList": _object({"petitions": {"type": "array", "items": _ref("Petition")}}),
    "Consultation": _object(_CONSULTATION_PROPERTIES),
    "ConsultationDetail": _object({
        **_CONSULTATION_PROPERTIES, "body": _TEXT, "easy_read": _TEXT,
        "documents": {"type": "array", "items": _object({"id": _INT, "title": _TEXT, "size_bytes": _COUNT,
                                                         "sha256": _TEXT, "url": _TEXT})},
        "meetings": {"type": "array", "items": _object({"id": _INT, "title": _TEXT, "mode": _TEXT,
                                                       "starts_at": _TIME, "ends_at": _TIME})}}),
    "ConsultationList": _object({"consultations": {"type": "array", "items": _ref("Consultation")},
                                 "page": _INT, "pages": _INT, "per_page": _INT, "total": _COUNT}),
    "ProposalItem": _object(_PROPOSAL_ITEM_PROPERTIES),
    "ProposalList": _object({"consultation_id": _INT, "page": _INT, "pages": _INT, "total": _COUNT,
                             "proposals": {"type": "array", "items": _ref("ProposalItem")}}),
    "Proposal": _object({
        **_PROPOSAL_ITEM_PROPERTIES, "consultation_id": _INT, "body": _TEXT,
        "comments_by_stance": {"type": "object", "additionalProperties": _COUNT}, "updated_at": _TIME,
        "answers": {"type": "array", "items": _object({"status": _TEXT, "body": _TEXT, "created_at": _TIME})},
        "updates": {"type": "array", "items": _object({"body": _TEXT, "created_at": _TIME})}}),
    "SearchResults": _object({
        "query": _TEXT, "kind": _TEXT_OR_NULL, "page": _INT, "pages": _INT, "per_page": _INT, "total": _COUNT,
        "counts": {"type": "object", "additionalProperties": _COUNT}, "message": _TEXT_OR_NULL,
        "results": {"type": "array", "items": _object({
            "kind": {"enum": ["consultation", "proposal", "petition"]}, "id": _INT, "title": _TEXT,
            "excerpt": _TEXT, "date": _TIME, "url": _TEXT,
            "consultation": {"oneOf": [_object({"id": _INT, "title": _TEXT, "url": _TEXT}), {"type": "null"}]}})}}),
    "BallotResults": {**_object({
        "ballot_id": _INT, "consultation_id": _INT, "title": _TEXT, "results_visible": {"type": "boolean"},
        "shown_from": {**_TIME_OR_NULL, "description": "While hidden: when the results will be shown."},
        "census_credit": _TEXT, "suppression": _TEXT,
        "questions": {"type": "array", "items": _ref("QuestionResults")},
    }, required=["ballot_id", "consultation_id", "title", "results_visible"]),
        "description": "While the results are hidden, no count at all: only results_visible false and shown_from."},
    "QuestionResults": _object({
        "question_id": _INT, "position": _INT, "text": _TEXT, "method": _TEXT, "max_choices": _INT_OR_NULL,
        "budget": _INT_OR_NULL, "ballots": _COUNT, "online_ballots": _COUNT, "paper_ballots": _COUNT,
        "blank": _COUNT, "invalid": _COUNT, "valid": _COUNT, "expressed": _COUNT, "eligible": _COUNT_OR_NULL,
        "turnout_percent": _PERCENT, "outcome": _TEXT_OR_NULL, "winners": {"type": "array", "items": _INT},
        "tie": {"type": "boolean"}, "tied": {"type": "array", "items": _INT}, "spent": _COUNT_OR_NULL,
        "remaining": _COUNT_OR_NULL,
        "options": {"type": "array", "items": _object({
            "option_id": _INT, "label": _TEXT, "cost": _COUNT_OR_NULL, "online": _COUNT, "paper": _COUNT,
            "votes": _COUNT, "percent": _PERCENT, "rank": _INT, "funded": {"type": "boolean"}})},
        "breakdown": {"type": "array", "items": _object({
            "dimension": _TEXT, "group": _TEXT, "ballots": _SHOWN, "percent": _PERCENT,
            "answered_percent": _PERCENT, "census_percent": _PERCENT, "under_represented": {"type": "boolean"},
            "choices": {"type": "object", "additionalProperties": _SHOWN}})},
    }, required=["question_id", "text", "method", "options"]),
    "OpenAPI": {"type": "object", "description": "This OpenAPI 3.1 document."},
}


@dataclass(frozen=True)
class Operation:
    """The hand-written description of one API route: summary, query parameters, response schema, and
    whether it answers 404 (an id in the path that names nothing)."""

    summary: str
    schema: str
    query: tuple[dict[str, Any], ...] = ()
    not_found: bool = False


# One description per route name of the table under /api/v1 (a route without one fails tests/test_opendata.py).
OPERATIONS: dict[str, Operation] = {
    "api_petitions": Operation("Public petitions of the region, newest first, with their signature counts.",
                               "PetitionList"),
    "api_petition": Operation("One public petition with its signature counts per province.", "Petition",
                              not_found=True),
    "api_provinces": Operation("The region and its provinces with their 2024 population (HCP, RGPH 2024).",
                               "Provinces"),
    "api_consultations": Operation("Consultations, newest first, 10 a page, with the list's filters.",
                                   "ConsultationList", (
        _query("status", "upcoming, open or closed.", {"enum": ["upcoming", "open", "closed"]}),
        _query("territory", "A province code: that province's consultations and its communes'."),
        _query("body", "The addressee: council, body_equality, body_youth or body_economic."),
        _query("q", "Words to search for."), _PAGE)),
    "api_consultation": Operation("One consultation with its texts, phases, counts, documents and meetings.",
                                  "ConsultationDetail", not_found=True),
    "api_proposals": Operation("Visible proposals of a consultation with their counts, 50 a page.", "ProposalList", (
        _query("status", "published, under_evaluation, accepted, rejected or implemented."),
        _query("province", "A province code."), _query("category", "A category code."),
        _query("q", "Words to search for."),
        _query("sort", "newest or most_supported.", {"enum": ["newest", "most_supported"]}), _PAGE),
        not_found=True),
    "api_proposal": Operation("One visible proposal with its counts, official answers and follow-up updates.",
                              "Proposal", not_found=True),
    "api_search": Operation("Consultations, proposals and petitions matching words, as on the search page.",
                            "SearchResults", (
        _query("q", "Words to search for."),
        _query("kind", "Only one kind of result.", {"enum": ["consultation", "proposal", "petition"]}), _PAGE)),
    "api_ballot_results": Operation("The results of a ballot once its consultation shows them; while hidden, no "
                                    "count, only when they will be shown.", "BallotResults", not_found=True),
    "openapi": Operation("This description of the API (OpenAPI 3.1).", "OpenAPI"),
}


def api_routes(routes: Sequence[BaseRoute]) -> list[Route]:
    """The routes of the table under /api/v1/."""
    return [r for r in routes if isinstance(r, Route) and r.path.startswith(API_PREFIX)]


def _path_template(route: Route) -> tuple[str, list[dict[str, Any]]]:
    """``/api/v1/petitions/{petition_id:int}`` → ``/api/v1/petitions/{petition_id}`` and its path parameters."""
    path = route.path
    parameters = []
    for name, convertor in route.param_convertors.items():
        integer = type(convertor).__name__ == "IntegerConvertor"
        for suffix in (":int", ":str", ":path", ""):
            path = path.replace("{" + name + suffix + "}", "{" + name + "}")
        parameters.append({"name": name, "in": "path", "required": True,
                           "schema": dict(_INT) if integer else dict(_TEXT)})
    return path, parameters


def openapi_document(routes: Sequence[BaseRoute], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every /api/v1/ route of ``routes``, built from the table at each request so a
    new route appears at once (with a bare description until OPERATIONS has its own)."""
    paths: dict[str, Any] = {}
    for route in api_routes(routes):
        path, parameters = _path_template(route)
        known = OPERATIONS.get(route.name)
        op = known or Operation(route.name, "")
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {
            "schema": _ref(op.schema) if op.schema else {}}}}}
        if op.not_found:
            responses["404"] = {"description": "Not found",
                                "content": {"application/json": {"schema": _ref("Error")}}}
        operation = {"operationId": route.name, "summary": op.summary, "parameters": [*parameters, *op.query],
                     "responses": responses}
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Civic open data API",
            "version": version,
            "description": "Public, read-only JSON of the Béni Mellal-Khénifra participatory platform: "
                           "petitions (counts only), consultations, proposals, territories and search. No "
                           "personal data. Dates are ISO 8601 in UTC.",
            "license": {"name": LICENCE_NAME, "url": LICENCE_URL},
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
