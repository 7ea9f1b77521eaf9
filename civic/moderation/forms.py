"""Moderation forms (WTForms): parse posted fields; the service validates them (issue #6, items 2 and 3)."""

from __future__ import annotations

from wtforms import HiddenField, StringField, TextAreaField

from civic.errors import NotFound
from civic.forms import CivicForm
from civic.moderation.service import ReportInput
from civic.web.requests import MAX_ID


def form_id(raw: str | None) -> int:
    """An id posted in a form; anything that cannot be a row id raises NotFound (404, never a 500)."""
    text = (raw or "").strip()
    value = int(text) if text.isascii() and text.isdigit() and len(text) < 12 else 0
    if not 1 <= value <= MAX_ID:
        raise NotFound()
    return value


def local_path(raw: str | None, default: str = "/") -> str:
    """A path on this site to go back to (``next``): only ``/…`` paths, never ``//host`` or a full URL."""
    text = (raw or "").strip()
    if not text.startswith("/") or text.startswith("//") or "\\" in text or any(ord(c) < 32 for c in text):
        return default
    return text[:500]


class ReportForm(CivicForm):
    """A report of a proposal, comment or petition: reason (one of REASONS) and optional details."""

    subject_type = HiddenField()
    subject_id = HiddenField()
    reason = StringField()  # radios in the template, one per REASONS code; the service checks it
    details = TextAreaField()
    next = HiddenField()

    def to_input(self) -> ReportInput:
        """The service's input; a subject id that no row can have raises NotFound."""
        return ReportInput(self.subject_type.data or "", form_id(self.subject_id.data), self.reason.data or "",
                           self.details.data or "")


class DecisionForm(CivicForm):
    """A moderator's decision: ``hide`` or ``restore``, with a reason."""

    decision = StringField()
    reason = TextAreaField()
    next = HiddenField()


class BlockForm(CivicForm):
    """A block of an author: days (one of BLOCK_DAYS) and a reason; the queue item to show again after."""

    days = StringField()  # a select of BLOCK_DAYS in the template; the service checks it
    reason = TextAreaField()
    moderation_id = HiddenField()
    next = HiddenField()

    def day_count(self) -> int:
        """The number of days chosen (0 when missing or not a number; the service refuses it)."""
        raw = (self.days.data or "").strip()
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0


class AppealForm(CivicForm):
    """The author's single appeal."""

    appeal_text = TextAreaField()
