"""Moderation pages: sending a report, the moderators' queue (decisions, blocks) and the author's appeal
(issue #6, items 2 and 3). htmx enhances the forms; every one works without JavaScript."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civic.db import utcnow
from civic.errors import Conflict, Forbidden, Invalid
from civic.i18n import N_
from civic.listing import page_number
from civic.moderation import service
from civic.moderation.forms import AppealForm, BlockForm, DecisionForm, ReportForm, form_id, local_path
from civic.web.requests import is_htmx, login_path, path_for, path_id, read_form, render, scope

# Announcements (aria-live) after a decision or a block, by flash code.
ANNOUNCEMENTS = {
    "hide": N_("Decision recorded: the content is hidden and its author has been told why."),
    "restore": N_("Decision recorded: the content is visible and its author has been told why."),
    "block": N_("The author's participation is paused; they have been told until when and why."),
}


def _queue_url(request: Request, filter_name: str = "", page: int = 1) -> str:
    query = {k: v for k, v in (("state", filter_name), ("page", str(page) if page > 1 else "")) if v}
    return path_for(request, "moderation_queue") + ("?" + urlencode(query) if query else "")


async def report(request: Request) -> Response:
    """POST /reports: report a proposal, comment or petition. htmx gets the report box back (a thank-you, or
    the form with its errors); without JavaScript, a page says thank you or shows the form again."""
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = ReportForm(formdata=await read_form(request))
        back = local_path(form.next.data)
        if not actor.signed_in:  # back to the page of the item after signing in, not to this POST-only address
            return RedirectResponse(path_for(request, "login") + "?" + urlencode({"next": back}), 303)
        data = form.to_input()
        errors: dict[str, list[str]] = {}
        message: str | None = None
        outcome = None
        status = 200
        try:
            outcome = await service.report(db, actor, data, settings.report_hide_threshold, utcnow(),
                                           settings.base_url)
        except Invalid as exc:
            errors, message, status = exc.field_errors, exc.message, 422
        except (Conflict, Forbidden) as exc:
            message, status = exc.message, exc.status_code
    values: dict[str, Any] = {"subject_type": data.subject_type, "subject_id": data.subject_id, "next": back,
                              "report_form": form, "report_errors": errors, "report_message": message,
                              "report_outcome": outcome}
    if is_htmx(request):
        # htmx swaps 409 and 422 (base.html's htmx-config); a refusal is shown in the box like a conflict
        return render(request, "moderation/_report_form.html", status_code=409 if status == 403 else status,
                      swapped=True, **values)
    return render(request, "moderation/report.html", status_code=status, **values)


async def queue(request: Request) -> Response:
    """GET /staff/moderation: reported items, newest report first, with their reports and the decision forms;
    ``?state=`` one of service.FILTERS."""
    filter_name = request.query_params.get("state", "open")
    filter_name = filter_name if filter_name in service.FILTERS else "open"
    flash = request.session.pop("moderation_flash", None)
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        page = await service.queue(db, actor, filter_name, page_number(request.query_params.get("page")), utcnow())
    return render(request, "moderation/queue.html", page=page, filter_name=filter_name, filters=service.FILTERS,
                  announcement=ANNOUNCEMENTS.get(flash or ""), item_errors={}, item_values={},
                  here=_queue_url(request, filter_name, page.number), block_days=service.BLOCK_DAYS,
                  can_block=service.may_block(actor, utcnow()))


async def _answer(request: Request, db: Any, actor: Any, moderation_id: int, flash: str, back: str,
                  status: int = 200, errors: dict[str, list[str]] | None = None,
                  values: dict[str, str] | None = None) -> Response:
    """After a decision or a block: htmx gets the item again (with an announcement, or with the errors);
    without JavaScript, a redirect back to the queue, or the queue again with the errors."""
    errors = errors or {}
    if is_htmx(request):
        item = await service.queue_item(db, actor, moderation_id, utcnow())
        return render(request, "moderation/_item.html", status_code=status, item=item,
                      item_errors={moderation_id: errors} if errors else {},
                      item_values={moderation_id: values or {}}, here=back, block_days=service.BLOCK_DAYS,
                      can_block=service.may_block(actor, utcnow()),
                      announcement=None if errors else ANNOUNCEMENTS[flash], swapped=True)
    if not errors:
        request.session["moderation_flash"] = flash
        return RedirectResponse(back, 303)
    item = await service.queue_item(db, actor, moderation_id, utcnow())
    return render(request, "moderation/decision.html", status_code=status, item=item,
                  item_errors={moderation_id: errors}, item_values={moderation_id: values or {}}, here=back,
                  block_days=service.BLOCK_DAYS, can_block=service.may_block(actor, utcnow()))


async def decide(request: Request) -> Response:
    """POST /staff/moderation/{moderation_id}: hide or restore (also: answer the author's appeal)."""
    moderation_id = path_id(request, "moderation_id")
    settings = request.app.state.settings
    async with scope(request) as (db, actor):
        form = DecisionForm(formdata=await read_form(request))
        back = local_path(form.next.data, _queue_url(request))
        decision = form.decision.data or ""
        try:
            await service.decide(db, actor, moderation_id, decision, form.reason.data or "", utcnow(),
                                 settings.base_url)
        except Invalid as exc:
            return await _answer(request, db, actor, moderation_id, decision, back, 422, exc.field_errors,
                                 {"decision": decision, "reason": form.reason.data or ""})
        return await _answer(request, db, actor, moderation_id, decision, back)


async def block(request: Request) -> Response:
    """POST /staff/users/{user_id}/block: pause an author's participation for 1, 7 or 30 days."""
    user_id = path_id(request, "user_id")
    async with scope(request) as (db, actor):
        form = BlockForm(formdata=await read_form(request))
        moderation_id = form_id(form.moderation_id.data)
        back = local_path(form.next.data, _queue_url(request))
        try:
            await service.block(db, actor, user_id, form.day_count(), form.reason.data or "", utcnow())
        except Invalid as exc:
            errors = {f"block_{name}": msgs for name, msgs in exc.field_errors.items()}
            return await _answer(request, db, actor, moderation_id, "block", back, 422, errors,
                                 {"block_days": form.days.data or "", "block_reason": form.reason.data or ""})
        except (Conflict, Forbidden) as exc:
            if not service.may_block(actor, utcnow()):
                raise
            # blocking oneself, or a moderator or council staff: said next to the form
            return await _answer(request, db, actor, moderation_id, "block", back, 409,
                                 {"block_reason": [exc.message]}, {"block_reason": form.reason.data or ""})
        return await _answer(request, db, actor, moderation_id, "block", back)


async def appeal(request: Request) -> Response:
    """GET/POST /me/appeals/{moderation_id}: the author sees why their content is hidden and appeals once."""
    moderation_id = path_id(request, "moderation_id")
    async with scope(request) as (db, actor):
        if not actor.signed_in:
            return RedirectResponse(login_path(request), 303)
        form = AppealForm()
        errors: dict[str, list[str]] = {}
        message = None
        status = 200
        if request.method == "POST":
            form = AppealForm(formdata=await read_form(request))
            try:
                await service.appeal(db, actor, moderation_id, form.appeal_text.data or "", utcnow())
            except Invalid as exc:
                errors, message, status = exc.field_errors, exc.message, 422
            except Conflict as exc:
                message, status = exc.message, 409
            else:
                request.session["appeal_flash"] = "sent"
                return RedirectResponse(path_for(request, "appeal", moderation_id=moderation_id), 303)
        view = await service.appeal_page(db, actor, moderation_id)
    sent = request.session.pop("appeal_flash", None) == "sent"
    return render(request, "moderation/appeal.html", status_code=status, view=view, form=form, errors=errors,
                  message=message, sent=sent)
