"""Paper tally sheet form (WTForms): parse the posted fields; civic.votes.sheets validates them (issue #5, item 3)."""

from __future__ import annotations

from starlette.datastructures import FormData
from wtforms import StringField

from civic.forms import CivicForm
from civic.text import clean_text
from civic.votes.sheets import SheetInput, SheetView

COUNT_PREFIX = "count_"  # + an option id: one field per option of the question


class SheetForm(CivicForm):
    """A sheet: the meeting, the question, the reference, blank and invalid papers, and (approval, budget) the
    papers with at least one choice. The count of each option is the field ``count_<option id>``."""

    meeting_id = StringField()
    question_id = StringField()
    reference = StringField()
    blank = StringField()
    invalid = StringField()
    ballots = StringField()

    def __init__(self, formdata: FormData | None = None, counts: dict[int, str] | None = None, **kwargs: object):
        super().__init__(formdata=formdata, **kwargs)
        self.counts: dict[int, str] = dict(counts or {})

    @classmethod
    def posted(cls, formdata: FormData) -> SheetForm:
        """The form as posted, with every ``count_<option id>`` field (the service checks that each option of
        the question has one and ignores the others)."""
        counts = {}
        for name, value in formdata.multi_items():
            suffix = name[len(COUNT_PREFIX):]
            if name.startswith(COUNT_PREFIX) and suffix.isascii() and suffix.isdigit() and len(suffix) < 11:
                counts[int(suffix)] = clean_text(value)[:20] if isinstance(value, str) else ""
        return cls(formdata=formdata, counts=counts)

    @classmethod
    def of(cls, sheet: SheetView) -> SheetForm:
        """The form filled with a sheet's numbers: the starting point of its correction."""
        return cls(data={"meeting_id": str(sheet.meeting_id), "question_id": str(sheet.question_id),
                         "reference": sheet.reference, "blank": str(sheet.blank), "invalid": str(sheet.invalid),
                         "ballots": "" if sheet.with_choice is None else str(sheet.with_choice)},
                   counts={k: str(v) for k, v in sheet.counts.items()})

    def to_input(self) -> SheetInput:
        """The service's input."""
        return SheetInput(self.meeting_id.data or "", self.question_id.data or "", self.reference.data or "",
                          self.counts, self.blank.data or "", self.invalid.data or "", self.ballots.data or "")
