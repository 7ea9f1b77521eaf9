"""Consultation documents: PDF files that staff attach to a consultation (issue #4, item 1).

Checks: the file must start with ``%PDF-`` (its first bytes, whatever its name or declared type), must not be
empty, and must not be larger than ``Settings.max_upload_bytes`` (read in chunks; reading stops as soon as
the limit is passed). Stored under ``Settings.upload_dir`` (created when missing) with a random name, never
the uploader's; the row records the size in bytes and the SHA-256 of the content. A file is written under a
temporary name first and renamed once complete, so a half-written file is never served.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import anyio
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from civic import audit
from civic.consultations.models import Consultation, ConsultationDocument
from civic.consultations.service import require_manager
from civic.db import reading
from civic.errors import Invalid, NotFound, NotSignedIn
from civic.i18n import N_
from civic.permissions import Actor
from civic.text import clean_text

PDF_MAGIC = b"%PDF-"
CHUNK_BYTES = 64 * 1024
TITLE_MAX = 200
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.pdf")
_UNSAFE_FILENAME = re.compile(r"[^\w\- ]+")


class Readable(Protocol):
    """Anything with an async ``read(size)`` returning at most ``size`` bytes (b'' at the end), such as
    Starlette's UploadFile."""

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes."""
        ...


@dataclass(frozen=True)
class DocumentFile:
    """A stored document ready to send: its path on disk, a safe download name, its size in bytes."""

    path: Path
    download_name: str
    size_bytes: int


def _clean_title(title: str) -> str:
    text = " ".join(clean_text(title).split())
    if not text:
        raise Invalid({"title": [N_("Please give the document a title.")]})
    if len(text) > TITLE_MAX:
        raise Invalid({"title": [N_("The title must be at most 200 characters long.")]})
    return text


async def _write(source: Readable, target: anyio.Path, max_bytes: int) -> tuple[int, str]:
    """Copy ``source`` into ``target`` chunk by chunk; returns (size, sha256 hex). Raises Invalid (empty, not
    a PDF, larger than ``max_bytes``), leaving no file behind."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        async with await target.open("wb") as fh:
            while True:
                chunk = await source.read(CHUNK_BYTES)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise Invalid({"file": [N_("The file is too large.")]})
                if len(head) < len(PDF_MAGIC):
                    head += chunk[:len(PDF_MAGIC)]
                    if not PDF_MAGIC.startswith(head[:len(PDF_MAGIC)]):
                        raise Invalid({"file": [N_("This file is not a PDF document.")]})
                digest.update(chunk)
                await fh.write(chunk)
        if size == 0:
            raise Invalid({"file": [N_("Please choose a PDF file.")]})
        if not head.startswith(PDF_MAGIC):
            raise Invalid({"file": [N_("This file is not a PDF document.")]})
    except BaseException:
        await target.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


async def store_document(session: AsyncSession, actor: Actor, consultation_id: int, title: str,
                         source: Readable | None, upload_dir: str, max_bytes: int, now: datetime) -> int:
    """Attach a PDF to a consultation; returns the document's id (staff only; issue #4, item 1).

    source: the uploaded file (None when none was sent). max_bytes: Settings.max_upload_bytes.
    Audited ``consultations:add_document`` with the size and digest. Raises NotSignedIn, Forbidden, NotFound,
    Invalid (``title``: missing or too long; ``file``: missing, empty, not a PDF, too large).
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with reading(session):
        consultation = await session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound()
    require_manager(actor, now, consultation)
    clean = ""
    errors: dict[str, list[str]] = {}
    try:
        clean = _clean_title(title)
    except Invalid as exc:
        errors.update(exc.field_errors)
    if source is None:
        errors["file"] = [N_("Please choose a PDF file.")]
    if errors:
        raise Invalid(errors)
    assert source is not None
    folder = anyio.Path(upload_dir)
    await folder.mkdir(parents=True, exist_ok=True)
    stored_name = f"{secrets.token_hex(16)}.pdf"
    partial = folder / f".{stored_name}.part"
    size, sha256 = await _write(source, partial, max_bytes)
    final = folder / stored_name
    try:
        await partial.replace(final)
        async with session.begin():
            document_id = int((await session.execute(insert(ConsultationDocument).values(
                consultation_id=consultation_id, title=clean, stored_name=stored_name, size_bytes=size,
                sha256=sha256, uploaded_by=actor.user_id, uploaded_at=now,
            ).returning(ConsultationDocument.id))).scalar_one())
            await audit.record(session, actor_id=actor.user_id, action="consultations:add_document",
                               subject_type="consultation", subject_id=consultation_id, now=now,
                               detail={"document_id": document_id, "size_bytes": size, "sha256": sha256})
    except BaseException:
        await partial.unlink(missing_ok=True)
        await final.unlink(missing_ok=True)
        raise
    return document_id


async def delete_document(session: AsyncSession, actor: Actor, consultation_id: int, document_id: int,
                          upload_dir: str, now: datetime) -> None:
    """Remove a document and its file (staff only). Audited ``consultations:delete_document``.

    The file is removed after the row is gone (committed), so a failure never leaves a row without its file.
    Raises NotSignedIn, Forbidden, NotFound.
    """
    if not actor.signed_in:
        raise NotSignedIn()
    async with session.begin():
        consultation = await session.get(Consultation, consultation_id)
        document = await session.get(ConsultationDocument, document_id, with_for_update=True)
        if consultation is None or document is None or document.consultation_id != consultation_id:
            raise NotFound()
        require_manager(actor, now, consultation)
        stored_name, digest = document.stored_name, document.sha256
        await session.delete(document)
        await session.flush()
        await audit.record(session, actor_id=actor.user_id, action="consultations:delete_document",
                           subject_type="consultation", subject_id=consultation_id, now=now,
                           detail={"document_id": document_id, "sha256": digest})
    if _STORED_NAME.fullmatch(stored_name):
        await (anyio.Path(upload_dir) / stored_name).unlink(missing_ok=True)


async def documents_of(session: AsyncSession, consultation_id: int) -> list[ConsultationDocument]:
    """A consultation's documents, oldest first (public)."""
    async with reading(session):
        return list(await session.scalars(
            select(ConsultationDocument).where(ConsultationDocument.consultation_id == consultation_id)
            .order_by(ConsultationDocument.uploaded_at, ConsultationDocument.id)))


def download_name(title: str, document_id: int) -> str:
    """A safe file name from the title: letters (any script), digits, spaces and hyphens, at most 80
    characters, then ``.pdf``; ``document-<id>.pdf`` when nothing is left."""
    stem = " ".join(_UNSAFE_FILENAME.sub(" ", title).split())[:80].strip()
    return f"{stem or f'document-{document_id}'}.pdf"


def content_disposition(name: str, document_id: int) -> str:
    """``attachment`` with an ASCII fallback name and the UTF-8 name (RFC 6266 / RFC 5987)."""
    return f"attachment; filename=\"document-{document_id}.pdf\"; filename*=UTF-8''{quote(name, safe='')}"


async def document_file(session: AsyncSession, document_id: int, upload_dir: str) -> DocumentFile:
    """The stored file of a document, for its public download. Raises NotFound when the row or the file is
    missing."""
    async with reading(session):
        document = await session.get(ConsultationDocument, document_id)
    if document is None or not _STORED_NAME.fullmatch(document.stored_name):
        raise NotFound()
    path = anyio.Path(upload_dir) / document.stored_name
    if not await path.is_file():
        raise NotFound()
    return DocumentFile(Path(path), download_name(document.title, document.id), document.size_bytes)
