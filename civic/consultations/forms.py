"""Consultation forms (WTForms): parse posted fields; the service validates them (issue #4, item 1)."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from wtforms import BooleanField, FileField, StringField, TextAreaField

from civic.consultations.models import PHASE_FLAGS, Consultation, Phase
from civic.consultations.service import ConsultationInput, PhaseInput, local_input_value
from civic.forms import CivicForm


class ConsultationForm(CivicForm):
    """A consultation: texts, scope and territory, addressed body, support limit."""

    title = StringField()
    summary = TextAreaField()
    body = TextAreaField()
    easy_read = TextAreaField()
    scope = StringField()
    territory_code = StringField()
    addressed_to = StringField()
    support_limit = StringField()

    @classmethod
    def for_consultation(cls, consultation: Consultation) -> ConsultationForm:
        """The form filled with a consultation's stored values (edit page)."""
        return cls(data={
            "title": consultation.title, "summary": consultation.summary, "body": consultation.body,
            "easy_read": consultation.easy_read, "scope": consultation.scope,
            "territory_code": "" if consultation.scope == "region" else consultation.territory_code,
            "addressed_to": consultation.addressed_to, "support_limit": str(consultation.support_limit),
        })

    def to_input(self) -> ConsultationInput:
        """The service's input."""
        return ConsultationInput(
            title=self.title.data or "", summary=self.summary.data or "", body=self.body.data or "",
            easy_read=self.easy_read.data or "", scope=self.scope.data or "",
            territory_code=self.territory_code.data or "", addressed_to=self.addressed_to.data or "",
            support_limit=self.support_limit.data or "",
        )


class PhaseForm(CivicForm):
    """A phase: kind, local start and end (``datetime-local``), and the five flags."""

    kind = StringField()
    starts_at = StringField()
    ends_at = StringField()
    proposals_enabled = BooleanField()
    supports_enabled = BooleanField()
    comments_enabled = BooleanField()
    votes_enabled = BooleanField()
    results_visible = BooleanField()

    @classmethod
    def for_input(cls, data: PhaseInput) -> PhaseForm:
        """The form filled with a phase input (e.g. the usual flags of a kind, PhaseInput.defaults)."""
        return cls(data={"kind": data.kind, "starts_at": data.starts_at, "ends_at": data.ends_at,
                         **{flag: getattr(data, flag) for flag in PHASE_FLAGS}})

    @classmethod
    def for_phase(cls, phase: Phase) -> PhaseForm:
        """The form filled with a stored phase, its dates in local time."""
        return cls.for_input(PhaseInput(phase.kind, local_input_value(phase.starts_at),
                                        local_input_value(phase.ends_at),
                                        **{flag: bool(getattr(phase, flag)) for flag in PHASE_FLAGS}))

    def to_input(self) -> PhaseInput:
        """The service's input."""
        return PhaseInput(self.kind.data or "", self.starts_at.data or "", self.ends_at.data or "",
                          **{flag: bool(getattr(self, flag).data) for flag in PHASE_FLAGS})


class DocumentForm(CivicForm):
    """A document upload (multipart): title and one PDF file; the CSRF token is checked by the view's reader."""

    title = StringField()
    file = FileField()

    def upload(self) -> UploadFile | None:
        """The uploaded file, or None when no file was chosen."""
        data = self.file.data
        return data if isinstance(data, UploadFile) and data.filename else None
