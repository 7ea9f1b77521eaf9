"""The admin roles page through HTTP (issue #6, item 1): admins only, find a person (by name, or by email in a
POSTed form that never puts the address in a URL), grant and revoke roles (audited), change a base role, no
self lock-out, CSRF required, htmx fragments."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from civic.accounts import roles
from civic.accounts import service as accounts
from civic.accounts.models import RoleGrant, User
from civic.audit import AuditEvent, verify_chain
from civic.permissions import Actor
from tests.conftest import NOW, csrf_from, make_user

PASSWORD = "a long password"


async def sign_in(client, session, role: str, n: int) -> Actor:  # type: ignore[no-untyped-def]
    email = f"roles-{role}{n}@test.invalid"
    user_id = await accounts.create_user(session, display_name=f"{role} {n}", email=email, password=PASSWORD,
                                         role=role, commune_code="05.091.01.01", now=NOW, region_code="05")
    page = await client.get("/login")
    r = await client.post("/login", data={"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD})
    assert r.status_code == 303
    return Actor(user_id, role, f"{role} {n}")


async def token(client, path: str = "/admin/roles") -> str:  # type: ignore[no-untyped-def]
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def active_grants(session, user_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows = (await session.execute(select(RoleGrant.role, RoleGrant.scope).where(
        RoleGrant.user_id == user_id, RoleGrant.revoked_at.is_(None)).order_by(RoleGrant.id))).all()
    await session.commit()
    return [(r, s) for r, s in rows]


async def audit_rows(session, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    rows = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
    await session.commit()
    return rows


def urls_in(html: str) -> list[str]:
    return re.findall(r'(?:href|action|hx-post|hx-get)="([^"]*)"', html)


async def test_only_admins_open_the_roles_page(client, session) -> None:  # type: ignore[no-untyped-def]
    target = await make_user(session, 9)
    anonymous = await client.get("/admin/roles")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    await sign_in(client, session, "council_staff", 1)
    assert (await client.get("/admin/roles")).status_code == 403
    assert (await client.get(f"/admin/roles?user={target.user_id}")).status_code == 403
    csrf = csrf_from((await client.get("/")).text)
    r = await client.post(f"/admin/roles/{target.user_id}/grant", data={
        "csrf_token": csrf, "role": "admin", "scope": ""})
    assert r.status_code == 403
    r = await client.post("/admin/roles", data={"csrf_token": csrf, "email": "x@test.invalid"})
    assert r.status_code == 403
    assert await active_grants(session, target.user_id) == []


async def test_find_grant_revoke_and_audit(client, session) -> None:  # type: ignore[no-untyped-def]
    admin = await sign_in(client, session, "admin", 1)
    target = await make_user(session, 2)
    found = await client.get("/admin/roles", params={"name": "user 2"})
    assert found.status_code == 200 and f'href="/admin/roles?user={target.user_id}"' in found.text
    page = await client.get(f"/admin/roles?user={target.user_id}")
    assert 'id="user-roles"' in page.text and 'aria-live="polite"' in page.text
    assert f'action="/admin/roles/{target.user_id}/grant"' in page.text
    assert 'value="body:body_youth"' in page.text and 'value="body:body_equality"' in page.text

    r = await client.post(f"/admin/roles/{target.user_id}/grant", data={
        "csrf_token": csrf_from(page.text), "role": "body_secretary", "scope": "body:body_youth"})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/roles?user={target.user_id}"
    assert await active_grants(session, target.user_id) == [("body_secretary", "body:body_youth")]
    (granted,) = await audit_rows(session, "roles:grant")
    assert (granted.actor_id, granted.subject_type, granted.subject_id) == (admin.user_id, "user", str(target.user_id))
    assert json.loads(granted.detail)["role"] == "body_secretary"
    assert json.loads(granted.detail)["scope"] == "body:body_youth"
    assert "@" not in granted.detail

    # htmx: the person's panel alone comes back
    r = await client.post(f"/admin/roles/{target.user_id}/grant", data={
        "csrf_token": csrf_from(page.text), "role": "moderator", "scope": ""}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<section id="user-roles"') and "<html" not in r.text
    assert await active_grants(session, target.user_id) == [("body_secretary", "body:body_youth"), ("moderator", "")]
    grant_id = await session.scalar(select(RoleGrant.id).where(RoleGrant.user_id == target.user_id,
                                                               RoleGrant.role == "body_secretary"))
    await session.commit()
    assert f'action="/admin/roles/{target.user_id}/grants/{grant_id}/revoke"' in r.text

    r = await client.post(f"/admin/roles/{target.user_id}/grants/{grant_id}/revoke",
                          data={"csrf_token": csrf_from(page.text)})
    assert r.status_code == 303
    assert await active_grants(session, target.user_id) == [("moderator", "")]
    row = await session.get(RoleGrant, grant_id)
    assert row is not None and row.revoked_by == admin.user_id and row.revoked_at is not None
    await session.commit()
    (revoked,) = await audit_rows(session, "roles:revoke")
    assert json.loads(revoked.detail) == {"role": "body_secretary", "scope": "body:body_youth", "grant_id": grant_id}
    again = await client.post(f"/admin/roles/{target.user_id}/grants/{grant_id}/revoke",
                              data={"csrf_token": csrf_from(page.text)})
    assert again.status_code == 409
    # a grant of someone else cannot be reached through another person's address
    other = await make_user(session, 3)
    wrong = await client.post(f"/admin/roles/{other.user_id}/grants/{grant_id}/revoke",
                              data={"csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 404
    assert await verify_chain(session) is None
    await session.commit()


async def test_bad_grants_are_refused_per_field(client, session) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "admin", 1)
    target = await make_user(session, 2)
    csrf = await token(client)
    url = f"/admin/roles/{target.user_id}/grant"
    r = await client.post(url, data={"csrf_token": csrf, "role": "body_secretary", "scope": ""})
    assert r.status_code == 422 and 'id="scope-error"' in r.text
    assert '<option value="body_secretary" selected>' in r.text  # what was chosen stays chosen
    r = await client.post(url, data={"csrf_token": csrf, "role": "moderator", "scope": "body:body_youth"})
    assert r.status_code == 422 and 'id="scope-error"' in r.text
    r = await client.post(url, data={"csrf_token": csrf, "role": "cso_member", "scope": "organisation:999999"})
    assert r.status_code == 422 and 'id="scope-error"' in r.text
    r = await client.post(url, data={"csrf_token": csrf, "role": "citizen", "scope": ""})
    assert r.status_code == 422 and 'id="role-error"' in r.text
    r = await client.post(url, data={"csrf_token": csrf, "role": "body_secretary", "scope": "body:nowhere"})
    assert r.status_code == 422
    assert await active_grants(session, target.user_id) == []
    assert (await client.post(url, data={"csrf_token": csrf, "role": "moderator", "scope": ""})).status_code == 303
    duplicate = await client.post(url, data={"csrf_token": csrf, "role": "moderator", "scope": ""})
    assert duplicate.status_code == 409 and 'role="alert"' in duplicate.text
    assert await active_grants(session, target.user_id) == [("moderator", "")]
    assert (await client.post("/admin/roles/999999/grant", data={
        "csrf_token": csrf, "role": "moderator", "scope": ""})).status_code == 404
    assert (await client.get("/admin/roles?user=999999")).status_code == 404
    assert (await client.get("/admin/roles?user=abc")).status_code == 404


async def test_admins_cannot_lock_themselves_out(client, session) -> None:  # type: ignore[no-untyped-def]
    admin = await sign_in(client, session, "admin", 1)
    own_grant = await roles.grant(session, admin, admin.user_id, "admin", "", NOW)
    page = await client.get(f"/admin/roles?user={admin.user_id}")
    assert f"/grants/{own_grant}/revoke" not in page.text  # no button to revoke one's own admin grant
    assert f'action="/admin/roles/{admin.user_id}/base"' not in page.text
    csrf = csrf_from(page.text)
    r = await client.post(f"/admin/roles/{admin.user_id}/grants/{own_grant}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 409
    r = await client.post(f"/admin/roles/{admin.user_id}/base", data={"csrf_token": csrf, "base_role": "citizen"})
    assert r.status_code == 409
    assert await active_grants(session, admin.user_id) == [("admin", "")]
    role = await session.scalar(select(User.role).where(User.id == admin.user_id))
    await session.commit()
    assert role == "admin"
    assert await audit_rows(session, "roles:revoke") == [] and await audit_rows(session, "roles:set_base") == []


async def test_base_role_change_is_audited(client, session) -> None:  # type: ignore[no-untyped-def]
    admin = await sign_in(client, session, "admin", 1)
    target = await make_user(session, 2)
    csrf = await token(client, f"/admin/roles?user={target.user_id}")
    url = f"/admin/roles/{target.user_id}/base"
    r = await client.post(url, data={"csrf_token": csrf, "base_role": "moderator"})
    assert r.status_code == 303
    role = await session.scalar(select(User.role).where(User.id == target.user_id))
    await session.commit()
    assert role == "moderator"
    (event,) = await audit_rows(session, "roles:set_base")
    assert event.actor_id == admin.user_id and json.loads(event.detail) == {"from": "citizen", "role": "moderator"}
    unchanged = await client.post(url, data={"csrf_token": csrf, "base_role": "moderator"})
    assert unchanged.status_code == 303 and len(await audit_rows(session, "roles:set_base")) == 1
    bad = await client.post(url, data={"csrf_token": csrf, "base_role": "body_secretary"})
    assert bad.status_code == 422 and 'id="base_role-error"' in bad.text


async def test_csrf_is_required(client, session) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "admin", 1)
    target = await make_user(session, 2)
    assert (await client.post(f"/admin/roles/{target.user_id}/grant",
                              data={"role": "moderator", "scope": ""})).status_code == 403
    assert (await client.post(f"/admin/roles/{target.user_id}/grant",
                              data={"csrf_token": "forged", "role": "moderator", "scope": ""})).status_code == 403
    assert (await client.post(f"/admin/roles/{target.user_id}/base", data={"base_role": "admin"})).status_code == 403
    assert (await client.post("/admin/roles", data={"email": "someone@test.invalid"})).status_code == 403
    assert await active_grants(session, target.user_id) == []


async def test_the_email_is_never_in_a_url(client, session) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, session, "admin", 1)
    target = await make_user(session, 2)
    email = await session.scalar(select(User.email).where(User.id == target.user_id))
    await session.commit()
    csrf = await token(client)
    r = await client.post("/admin/roles", data={"csrf_token": csrf, "email": f"  {email.upper()} "})
    assert r.status_code == 303
    location = r.headers["location"]
    assert location == f"/admin/roles?user={target.user_id}" and "@" not in location
    page = await client.get(location)
    assert page.status_code == 200 and email not in page.text and "@" not in "".join(urls_in(page.text))
    (event,) = await audit_rows(session, "accounts:find_by_email")
    assert event.subject_id == str(target.user_id) and "@" not in event.detail

    unknown = await client.post("/admin/roles", data={"csrf_token": csrf, "email": "nobody@test.invalid"})
    assert unknown.status_code == 200 and 'id="email-error"' in unknown.text
    assert 'value="nobody@test.invalid"' in unknown.text  # what was typed stays in the field
    assert "@" not in "".join(urls_in(unknown.text))
    empty = await client.post("/admin/roles", data={"csrf_token": csrf, "email": ""})
    assert empty.status_code == 422 and 'id="email-error"' in empty.text
    # the search form itself posts: the email field is not in the GET (name) form
    get_form = re.search(r'<form method="get".*?</form>', page.text, re.S)
    assert get_form and 'name="email"' not in get_form.group(0)
    assert len(await audit_rows(session, "accounts:find_by_email")) == 1
    # an address typed in the name search is neither searched nor shown again
    typed = await client.get("/admin/roles", params={"name": email})
    assert typed.status_code == 200 and 'id="name-error"' in typed.text and email not in typed.text
    assert 'id="matches-heading"' not in typed.text
