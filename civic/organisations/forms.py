"""Organisation forms (WTForms): parse posted fields; the service validates them."""

from __future__ import annotations

from wtforms import BooleanField, SelectField, StringField, TextAreaField

from civic.forms import CivicForm
from civic.organisations.service import OrganisationInput, VerificationInput


class OrganisationForm(CivicForm):
    """Registration of an association."""

    name_ar = StringField()
    name_fr = StringField()
    registration_ref = StringField()
    founded_on = StringField()
    seat_commune_code = SelectField(validate_choice=False)
    activity = TextAreaField()

    def to_input(self) -> OrganisationInput:
        """The service's input."""
        return OrganisationInput(self.name_ar.data or "", self.name_fr.data or "", self.registration_ref.data or "",
                                 self.founded_on.data or "", self.seat_commune_code.data or "",
                                 self.activity.data or "")


class VerificationForm(CivicForm):
    """Council staff's eligibility checks."""

    constituted_over_3_years = BooleanField()
    democratic_statutes = BooleanField()
    good_standing = BooleanField()
    seat_in_region = BooleanField()
    document_refs = TextAreaField()
    notes = TextAreaField()

    def to_input(self) -> VerificationInput:
        """The service's input."""
        return VerificationInput(bool(self.constituted_over_3_years.data), bool(self.democratic_statutes.data),
                                 bool(self.good_standing.data), bool(self.seat_in_region.data),
                                 self.document_refs.data or "", self.notes.data or "")
