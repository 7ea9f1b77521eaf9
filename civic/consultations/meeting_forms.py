"""Forum meeting forms (WTForms): parse posted fields; the service (civic.consultations.meetings) validates them."""

from __future__ import annotations

from wtforms import BooleanField, SelectField, StringField, TextAreaField

from civic.consultations.meetings import MeetingInput, Needs, utc_to_local_input
from civic.consultations.models import Meeting
from civic.forms import CivicForm


class MeetingForm(CivicForm):
    """Creating or editing a meeting (council staff). starts_at/ends_at are local ``datetime-local`` values."""

    title = StringField()
    mode = StringField()
    commune_code = SelectField(validate_choice=False)
    address = TextAreaField()
    online_url = StringField()
    starts_at = StringField()
    ends_at = StringField()
    capacity = StringField()

    @classmethod
    def of(cls, meeting: Meeting) -> MeetingForm:
        """The form filled with a stored meeting, dates in local Morocco time."""
        return cls(data={
            "title": meeting.title, "mode": meeting.mode, "commune_code": meeting.commune_code or "",
            "address": meeting.address, "online_url": meeting.online_url,
            "starts_at": utc_to_local_input(meeting.starts_at), "ends_at": utc_to_local_input(meeting.ends_at),
            "capacity": str(meeting.capacity),
        })

    def to_input(self) -> MeetingInput:
        """The service's input."""
        return MeetingInput(self.title.data or "", self.mode.data or "", self.commune_code.data or "",
                            self.address.data or "", self.online_url.data or "", self.starts_at.data or "",
                            self.ends_at.data or "", self.capacity.data or "")


class RegistrationForm(CivicForm):
    """Registering for a meeting: the accessibility needs, all optional (issue #4, item 2)."""

    sign_language = BooleanField()
    wheelchair = BooleanField()
    easy_read = BooleanField()
    companion = BooleanField()

    def to_needs(self) -> Needs:
        """The needs ticked."""
        return Needs(bool(self.sign_language.data), bool(self.wheelchair.data), bool(self.easy_read.data),
                     bool(self.companion.data))


class MinutesForm(CivicForm):
    """The minutes staff publish after the meeting (issue #4, item 4)."""

    minutes = TextAreaField()
