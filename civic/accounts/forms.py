"""Account forms (WTForms): parse and coerce posted fields; the service validates them."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from wtforms import Form, PasswordField, SelectField, StringField

from civic.accounts.service import Registration


class RegisterForm(Form):  # type: ignore[misc]
    """Registration: display name, email, password, commune of residence."""

    display_name = StringField()
    email = StringField()
    password = PasswordField()
    commune_code = SelectField(validate_choice=False)

    def to_registration(self) -> Registration:
        """The service's input."""
        return Registration(self.display_name.data or "", self.email.data or "", self.password.data or "",
                            self.commune_code.data or "")


class LoginForm(Form):  # type: ignore[misc]
    """Sign-in: email and password."""

    email = StringField()
    password = PasswordField()


def bind(form_class: type[Any], form: FormData | None) -> Any:
    """Bind a WTForms form to a posted FormData (or an empty one for GET)."""
    return form_class(formdata=form)
