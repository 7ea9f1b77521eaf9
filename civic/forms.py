"""The base of every form: WTForms, with every text field cleaned (civic.text.clean_text) before validation."""

from __future__ import annotations

from typing import Any

from wtforms import Form

from civic.text import clean_text


def _clean(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


class CivicForm(Form):  # type: ignore[misc]
    """A WTForms form whose string fields drop control, bidi-override and NUL characters."""

    class Meta:
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            options["filters"] = [_clean, *options.get("filters", ())]
            return unbound_field.bind(form=form, **options)
