"""Queue and send emails. Queuing happens inside the caller's transaction, so a transition and its
notifications commit together; sending happens later and never blocks a transition.

Messages are bilingual, Arabic first then French, since the user's language is not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from civic import i18n
from civic.accounts.models import User
from civic.db import reading
from civic.errors import Forbidden, NotSignedIn
from civic.notifications.models import OutboxMessage
from civic.permissions import Action, Actor, can

log = logging.getLogger("civic.mail")
MAX_ATTEMPTS = 8
MAIL_LANGUAGES = ("ar", "fr")


def render_bilingual(subject: str, body: str, params: dict[str, Any],
                     translate: tuple[str, ...] = ()) -> tuple[str, str]:
    """Subject and body msgids translated into Arabic and French, with ``%(name)s`` params filled in;
    the params named in ``translate`` are msgids translated too."""
    subjects, bodies = [], []
    for code in MAIL_LANGUAGES:
        translations = i18n.translations(code)
        values = {k: translations.gettext(v) if k in translate else v for k, v in params.items()}
        subjects.append(translations.gettext(subject) % values)
        bodies.append(translations.gettext(body) % values)
    return " / ".join(dict.fromkeys(subjects)), "\n\n---\n\n".join(bodies)


async def enqueue(session: AsyncSession, user_ids: Iterable[int | None], subject: str, body: str,
                  params: dict[str, Any], purpose: str, now: datetime, translate: tuple[str, ...] = ()) -> int:
    """Queue one email per distinct user (inside the caller's transaction); returns how many were queued."""
    ids = sorted({uid for uid in user_ids if uid is not None})
    if not ids:
        return 0
    rows = (await session.execute(select(User.id, User.email).where(User.id.in_(ids)))).all()
    subject_text, body_text = render_bilingual(subject, body, params, translate)
    for uid, email in rows:
        await session.execute(insert(OutboxMessage).values(
            user_id=uid, to_address=email, subject=subject_text[:300], body=body_text, purpose=purpose,
            status="pending", attempts=0, next_attempt_at=now, last_error="", created_at=now,
        ))
    return len(rows)


async def enqueue_address(session: AsyncSession, address: str, subject: str, body: str, params: dict[str, Any],
                          purpose: str, now: datetime) -> None:
    """Queue an email to an address that may have no account yet (invitations)."""
    subject_text, body_text = render_bilingual(subject, body, params)
    await session.execute(insert(OutboxMessage).values(
        user_id=None, to_address=address, subject=subject_text[:300], body=body_text, purpose=purpose,
        status="pending", attempts=0, next_attempt_at=now, last_error="", created_at=now,
    ))


async def outbox(session: AsyncSession, actor: Actor, now: datetime, limit: int = 200) -> list[OutboxMessage]:
    """The newest messages, for admins (the development outbox page). Raises NotSignedIn, Forbidden."""
    if not actor.signed_in:
        raise NotSignedIn()
    if not can(actor, Action.OUTBOX_VIEW, None, now):
        raise Forbidden()
    async with reading(session):
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)))


def _smtp_options(smtp_url: str) -> dict[str, Any]:
    parts = urlsplit(smtp_url)
    query = parse_qs(parts.query)
    return {
        "hostname": parts.hostname or "127.0.0.1",
        "port": parts.port or (465 if parts.scheme == "smtps" else 25),
        "username": parts.username,
        "password": parts.password,
        "use_tls": parts.scheme == "smtps",
        "start_tls": query.get("starttls", ["0"])[0] in {"1", "true", "on"},
        "timeout": 20,
    }


async def send_pending(session: AsyncSession, smtp_url: str, mail_from: str, now: datetime,
                       batch: int = 50) -> tuple[int, int]:
    """Send due messages with aiosmtplib; returns (sent, failed_this_round).

    A failure is retried with exponential back-off (2, 4, 8 … minutes), up to MAX_ATTEMPTS, then marked
    ``failed``. Sent messages lose their address (Law 09-08: keep no more than needed).
    """
    import aiosmtplib

    async with session.begin():
        due = list(await session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id).limit(batch)
        ))
    sent = failed = 0
    options = _smtp_options(smtp_url)
    for message in due:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = mail_from, message.to_address, message.subject
        email.set_content(message.body)
        try:
            await aiosmtplib.send(email, **options)
        except (aiosmtplib.SMTPException, OSError) as exc:
            failed += 1
            attempts = message.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempts, "last_error": type(exc).__name__,
                "next_attempt_at": now + timedelta(minutes=2 ** attempts),
            }
            if attempts >= MAX_ATTEMPTS:
                values["status"] = "failed"
            log.warning("mail %s not sent (attempt %s): %s", message.id, attempts, type(exc).__name__)
        else:
            sent += 1
            values = {"status": "sent", "sent_at": now, "attempts": message.attempts + 1, "to_address": ""}
        async with session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values))
    return sent, failed
