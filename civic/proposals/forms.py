"""Proposal, comment and answer forms (WTForms): parse posted fields; the services validate them."""

from __future__ import annotations

from wtforms import RadioField, SelectField, StringField, TextAreaField

from civic.forms import CivicForm
from civic.proposals.comments import CommentInput
from civic.proposals.service import ProposalInput


def _id(raw: str | None) -> int | None:
    """A posted row id, or None when empty or not a plausible id (the service then refuses it)."""
    value = (raw or "").strip()
    return int(value) if value.isascii() and value.isdigit() and 0 < len(value) < 10 else None


class ProposalForm(CivicForm):
    """A proposal: title, text, category, territory, and optionally the organisation it is submitted for."""

    title = StringField()
    body = TextAreaField()
    category = SelectField(validate_choice=False)
    territory_code = SelectField(validate_choice=False)
    organisation_id = SelectField(validate_choice=False)

    def to_input(self) -> ProposalInput:
        """The service's input; an organisation field that is empty (or not an id) means one's own name."""
        raw_org = self.organisation_id.data or ""
        org = _id(raw_org)
        if raw_org.strip() and org is None:
            org = 0  # typed but impossible: refused by the service as not one's organisation
        return ProposalInput(self.title.data or "", self.body.data or "", self.category.data or "",
                             self.territory_code.data or "", org)


class CommentForm(CivicForm):
    """A comment or a reply: text, stance, and the comment replied to."""

    body = TextAreaField()
    stance = RadioField(validate_choice=False)
    parent_id = StringField()

    def to_input(self) -> CommentInput:
        """The service's input."""
        return CommentInput(self.body.data or "", self.stance.data or "", _id(self.parent_id.data))


class AnswerForm(CivicForm):
    """Council staff's official answer: the status it sets and the public text."""

    status = SelectField(validate_choice=False)
    body = TextAreaField()


class UpdateForm(CivicForm):
    """Council staff's follow-up update on an accepted proposal."""

    update_body = TextAreaField()
