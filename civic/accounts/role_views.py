"""The admin roles page (issue #6, item 1): find a person, see their roles, grant, revoke, change the base role.

GET /admin/roles?name=… searches display names; POST /admin/roles looks a person up by exact email address
(the address stays in the form: it never goes into a URL). A person's roles are shown at /admin/roles?user=<id>.
Grant, revoke and base-role forms work without JavaScript (POST, then 303 back); with htmx they swap the
person's panel (``admin/_user_roles.html``, an ``aria-live`` region).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic.accounts import roles
from civic.accounts.models import ROLES
from civic.accounts.role_forms import BaseRoleForm, EmailSearchForm, GrantForm
from civic.db import utcnow
from civic.errors import Conflict, Invalid, NotFound
from civic.permissions import Actor
from civic.web.requests import MAX_ID, is_htmx, path_for, path_id, read_form, render, scope

FLASH_KEY = "flash_roles"


def _user_param(raw: str | None) -> int | None:
    """The ``user`` query parameter: None when absent; NotFound when it cannot be a row id."""
    if raw is None or raw == "":
        return None
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    if not 1 <= value <= MAX_ID:
        raise NotFound()
    return value


def _user_url(request: Request, user_id: int) -> str:
    return path_for(request, "admin_roles") + "?" + urlencode({"user": user_id})


async def _render(request: Request, db: AsyncSession, actor: Actor, *, user_id: int | None = None, name: str = "",
                  status_code: int = 200, **values: Any) -> Response:
    """The whole page, or only the person's panel for htmx."""
    page = await roles.roles_page(db, actor, utcnow(), name=name, user_id=user_id)
    context = {"page": page, "labels": roles.ROLE_LABELS, "grantable": roles.GRANTABLE_ROLES,
               "base_roles": ROLES, "errors": {}, "message": None, "flash": None, "email": "", **values}
    template = "admin/_user_roles.html" if is_htmx(request) and page.user is not None else "admin/roles.html"
    return render(request, template, status_code=status_code, **context)


async def index(request: Request) -> Response:
    """GET /admin/roles (``name``: display-name search, ``user``: a person's roles); POST: find by email."""
    async with scope(request) as (db, actor):
        if request.method == "POST":
            form = EmailSearchForm(formdata=await read_form(request))
            try:
                found = await roles.find_by_email(db, actor, form.value(), utcnow())
            except Invalid as exc:
                return await _render(request, db, actor, status_code=422, errors=exc.field_errors,
                                     email=form.value())
            if found is None:
                return await _render(request, db, actor, email=form.value(), errors={"email": [roles.NO_ACCOUNT]})
            return RedirectResponse(_user_url(request, found), 303)
        flash = request.session.pop(FLASH_KEY, None)
        return await _render(request, db, actor, user_id=_user_param(request.query_params.get("user")),
                             name=request.query_params.get("name", ""), flash=flash)


async def _after_change(request: Request, db: AsyncSession, actor: Actor, user_id: int, flash: str) -> Response:
    if is_htmx(request):
        return await _render(request, db, actor, user_id=user_id, flash=flash)
    request.session[FLASH_KEY] = flash
    return RedirectResponse(_user_url(request, user_id), 303)


async def grant(request: Request) -> Response:
    """POST /admin/roles/{user_id}/grant: grant a role, everywhere or for a scope."""
    user_id = path_id(request, "user_id")
    async with scope(request) as (db, actor):
        form = GrantForm(formdata=await read_form(request))
        role, grant_scope = form.values()
        try:
            await roles.grant(db, actor, user_id, role, grant_scope, utcnow())
        except Invalid as exc:
            return await _render(request, db, actor, user_id=user_id, status_code=422, errors=exc.field_errors,
                                 chosen=(role, grant_scope))
        except Conflict as exc:
            return await _render(request, db, actor, user_id=user_id, status_code=409, message=exc.message)
        return await _after_change(request, db, actor, user_id, "granted")


async def revoke(request: Request) -> Response:
    """POST /admin/roles/{user_id}/grants/{grant_id}/revoke: revoke one of the person's grants."""
    user_id, grant_id = path_id(request, "user_id"), path_id(request, "grant_id")
    async with scope(request) as (db, actor):
        await read_form(request)
        try:
            await roles.revoke(db, actor, user_id, grant_id, utcnow())
        except Conflict as exc:
            return await _render(request, db, actor, user_id=user_id, status_code=409, message=exc.message)
        return await _after_change(request, db, actor, user_id, "revoked")


async def base_role(request: Request) -> Response:
    """POST /admin/roles/{user_id}/base: change a person's base role."""
    user_id = path_id(request, "user_id")
    async with scope(request) as (db, actor):
        form = BaseRoleForm(formdata=await read_form(request))
        try:
            changed = await roles.set_base_role(db, actor, user_id, form.value(), utcnow())
        except Invalid as exc:
            return await _render(request, db, actor, user_id=user_id, status_code=422, errors=exc.field_errors)
        except Conflict as exc:
            return await _render(request, db, actor, user_id=user_id, status_code=409, message=exc.message)
        return await _after_change(request, db, actor, user_id, "base_set" if changed else "base_unchanged")
