"""Account forms (WTForms): parse and coerce posted fields; the service validates them."""

from __future__ import annotations

from wtforms import PasswordField, SelectField, StringField

from civic.accounts.service import Registration
from civic.forms import CivicForm


class RegisterForm(CivicForm):
    """Registration: display name, email, password, commune of residence."""

    display_name = StringField()
    email = StringField()
    password = PasswordField()
    commune_code = SelectField(validate_choice=False)

    def to_registration(self) -> Registration:
        """The service's input."""
        return Registration(self.display_name.data or "", self.email.data or "", self.password.data or "",
                            self.commune_code.data or "")


class LoginForm(CivicForm):
    """Sign-in: email and password."""

    email = StringField()
    password = PasswordField()
