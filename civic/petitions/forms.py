"""Petition forms (WTForms): parse and coerce posted fields; the service validates them (domain.md §2)."""

from __future__ import annotations

from wtforms import BooleanField, SelectField, StringField, TextAreaField

from civic.forms import CivicForm
from civic.petitions.service import PetitionDraft, SignatureInput


class PetitionForm(CivicForm):
    """A new petition: title, text, addressee."""

    title = StringField()
    body = TextAreaField()
    addressed_to = SelectField(validate_choice=False)
    organisation_id = StringField()
    easy_read = TextAreaField()

    def to_draft(self) -> PetitionDraft:
        """The service's input; ``organisation_id`` '' (a citizens' petition) or an organisation id."""
        raw = (self.organisation_id.data or "").strip()
        org_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
        return PetitionDraft(self.title.data or "", self.body.data or "", self.addressed_to.data or "", org_id,
                             self.easy_read.data or "")


class SignForm(CivicForm):
    """A signature: full name, CNIE, commune, electoral declaration, consent."""

    full_name = StringField()
    cnie = StringField()
    commune_code = SelectField(validate_choice=False)
    electoral_declaration = BooleanField()
    consent = BooleanField()
    public_name = BooleanField()

    def to_input(self) -> SignatureInput:
        """The service's input."""
        return SignatureInput(
            full_name=self.full_name.data or "", cnie=self.cnie.data or "", commune_code=self.commune_code.data or "",
            electoral_declaration=bool(self.electoral_declaration.data), consent=bool(self.consent.data),
            public_name=bool(self.public_name.data),
        )
