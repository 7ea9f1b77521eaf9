"""Forms for paper and assisted signatures (WTForms): parse and coerce posted fields; the service validates
them (civic.petitions.paper, shared/domain.md §2)."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from wtforms import BooleanField, FileField, SelectField, StringField

from civic.forms import CivicForm
from civic.petitions.paper import PaperSignatureInput


class PaperSignatureForm(CivicForm):
    """One signature entered by a collector: channel, sheet reference, the signatory's fields, consent."""

    channel = StringField(default="paper")  # two radio buttons: paper | assisted (checked by the service)
    sheet_ref = StringField()
    full_name = StringField()
    cnie = StringField()
    commune_code = SelectField(validate_choice=False)
    electoral_declaration = BooleanField()
    consent = BooleanField()

    def to_input(self) -> PaperSignatureInput:
        """The service's input."""
        return PaperSignatureInput(
            full_name=self.full_name.data or "", cnie=self.cnie.data or "", commune_code=self.commune_code.data or "",
            sheet_ref=self.sheet_ref.data or "", consent=bool(self.consent.data),
            electoral_declaration=bool(self.electoral_declaration.data), channel=self.channel.data or "",
        )


class SheetImportForm(CivicForm):
    """The upload of a CSV or XLSX sheet (multipart); the CSRF token is checked by the view's reader."""

    file = FileField()

    def upload(self) -> UploadFile | None:
        """The uploaded file, or None when no file was sent."""
        data = self.file.data
        return data if isinstance(data, UploadFile) and data.filename else None
