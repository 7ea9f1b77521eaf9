"""Forms of the admin roles page (WTForms): parse posted fields; civic.accounts.roles validates them."""

from __future__ import annotations

from wtforms import SelectField, StringField

from civic.forms import CivicForm


class EmailSearchForm(CivicForm):
    """Find a person by exact email address (POSTed, never in a URL)."""

    email = StringField()

    def value(self) -> str:
        """The address typed, cut at 254 characters (the longest an address can be)."""
        return (self.email.data or "")[:254]


class GrantForm(CivicForm):
    """Grant a role: the role (roles.GRANTABLE_ROLES) and its scope ('' for everywhere)."""

    role = SelectField(validate_choice=False)
    scope = SelectField(validate_choice=False)

    def values(self) -> tuple[str, str]:
        """(role, scope) as posted, trimmed and cut at the columns' lengths."""
        return (self.role.data or "").strip()[:20], (self.scope.data or "").strip()[:40]


class BaseRoleForm(CivicForm):
    """Change a person's base role (one of accounts.models.ROLES)."""

    base_role = SelectField(validate_choice=False)

    def value(self) -> str:
        """The base role as posted."""
        return (self.base_role.data or "").strip()[:20]
