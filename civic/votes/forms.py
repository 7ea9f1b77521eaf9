"""Ballot, question and voting forms (WTForms and the posted choices): parse posted fields; the service
(civic.votes.service) validates them (issue #5, items 1, 2 and 7)."""

from __future__ import annotations

import re

from starlette.datastructures import FormData
from wtforms import RadioField, SelectField, StringField, TextAreaField

from civic.forms import CivicForm
from civic.votes.models import Ballot
from civic.votes.service import BallotInput, QuestionInput, VoteInput

_QUESTION_FIELD = re.compile(r"q([0-9]{1,9})")
_ID = re.compile(r"[0-9]{1,9}")


class BallotForm(CivicForm):
    """A ballot: title, description, and the forum meeting it is restricted to ('' for every resident)."""

    title = StringField()
    description = TextAreaField()
    meeting_id = SelectField(validate_choice=False)

    @classmethod
    def of(cls, ballot: Ballot) -> BallotForm:
        """The form filled with a stored ballot."""
        return cls(data={"title": ballot.title, "description": ballot.description,
                         "meeting_id": str(ballot.meeting_id) if ballot.meeting_id is not None else ""})

    def to_input(self) -> BallotInput:
        """The service's input."""
        return BallotInput(self.title.data or "", self.description.data or "", self.meeting_id.data or "")


class QuestionForm(CivicForm):
    """A question: its text, method, options (one per line; ``name | cost`` for budget projects), k for
    approval and the budget for budget allocation."""

    text = TextAreaField()
    method = RadioField(validate_choice=False)
    options = TextAreaField()
    max_choices = StringField()
    budget = StringField()

    def to_input(self) -> QuestionInput:
        """The service's input."""
        return QuestionInput(self.text.data or "", self.method.data or "", self.options.data or "",
                             self.max_choices.data or "", self.budget.data or "")


def vote_input(form: FormData) -> VoteInput:
    """A submission from the voting form: every ``q<question id>`` field's option ids (radio: one; checkboxes:
    several), and the demographics ``gender``, ``age_band``, ``disability``. A value that is not an id becomes 0,
    which no option has (the service refuses it); fields of other names are ignored."""
    choices: dict[int, list[int]] = {}
    for name in form.keys():
        match = _QUESTION_FIELD.fullmatch(name)
        if match is None:
            continue
        values = [v for v in form.getlist(name) if isinstance(v, str)]
        choices[int(match.group(1))] = [int(v) if _ID.fullmatch(v.strip()) else 0 for v in values if v.strip()]

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip()[:20] if isinstance(value, str) else ""

    return VoteInput(choices, text("gender"), text("age_band"), text("disability"))
