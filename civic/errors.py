"""Domain errors. ``civic.web.responses`` maps each one to a status code and a translated page."""

from __future__ import annotations

from civic.i18n import N_


class ConfigError(Exception):
    """A setting is wrong; the message is one line meant for the operator."""


class DomainError(Exception):
    """Base of errors a service raises. ``message`` is an untranslated msgid."""

    status_code = 400
    message = N_("The request could not be completed.")

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class NotFound(DomainError):
    """The subject does not exist, or the actor may not know it exists (404)."""

    status_code = 404
    message = N_("This page does not exist.")


class Forbidden(DomainError):
    """The actor may not do this (403)."""

    status_code = 403
    message = N_("You are not allowed to do this.")


class NotSignedIn(DomainError):
    """The action needs a signed-in user (redirects to the login page)."""

    status_code = 401
    message = N_("Please sign in first.")


class Invalid(DomainError):
    """Input failed validation (422). ``field_errors`` maps field name → list of msgids."""

    status_code = 422
    message = N_("Please correct the errors below.")

    def __init__(self, field_errors: dict[str, list[str]], message: str | None = None) -> None:
        super().__init__(message)
        self.field_errors = field_errors


class Conflict(DomainError):
    """The action clashes with the subject's current state (409)."""

    status_code = 409
    message = N_("This action is not possible in the current state.")


class Unavailable(DomainError):
    """The service cannot answer yet: database not migrated or territories not loaded (503)."""

    status_code = 503
    message = N_("The service is briefly unavailable. Please try again in a minute.")


class RateLimited(DomainError):
    """Too many attempts; try again later (429)."""

    status_code = 429
    message = N_("Too many attempts. Please wait a few minutes and try again.")


class CsrfFailed(DomainError):
    """The form's anti-forgery token is missing or wrong (403)."""

    status_code = 403
    message = N_("This form has expired. Please go back, reload the page and try again.")
