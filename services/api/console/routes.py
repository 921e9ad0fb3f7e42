"""The console: server-rendered pages for a tenant's admins and members, reached only through a portal session,
in the member's language (else the tenant's; `?lang=` switches and is remembered). Plain HTML forms; a state
change carries the session's CSRF token and goes through the same commands as the API."""

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from creditflow.views import wallet_view
from schemas import wallet as wire
from services.wallet.ports import LedgerQuery

from ..context import SESSION_COOKIE, Context, context, principal, session_hash
from ..domain.keys import Principal
from ..problems import Problem
from .i18n import Language, Words

router = APIRouter(include_in_schema=False)
_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
PAGE_SIZE = 12
LANG_COOKIE = "cf_lang"


async def _visit(request: Request, tenant_id: str) -> tuple[Context, Principal, Any, Words, dict[str, Any]]:
    ctx = context(request)
    caller = await principal(request, ctx)
    if caller.kind != "session" or caller.tenant_id != tenant_id:
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")
    tenant = await ctx.ops.tenant(tenant_id)
    if tenant is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")
    member = next((m for m in tenant.members if m.email.lower() == (caller.member or "").lower()), None)
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    language: Language = member.language if member and member.language else tenant.language
    if wanted in ("fr", "en"):
        language = "fr" if wanted == "fr" else "en"
    session = await ctx.store.session(session_hash(request.cookies.get(SESSION_COOKIE, "")), datetime.now(UTC))
    assert session is not None
    return ctx, caller, tenant, Words(language), session


def _page(name: str, words: Words, **values: Any) -> HTMLResponse:
    response = HTMLResponse(_ENV.get_template(f"{name}.html").render(t=words, page=name, **values))
    response.set_cookie(LANG_COOKIE, words.language, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


def _back(url: str, notice: str, *, error: bool = False) -> RedirectResponse:
    """Post, then redirect, then get: the page shows what the form's command came to."""
    return RedirectResponse(f"{url}?{urlencode({'notice': notice, **({'error': 1} if error else {})})}", 303)


@router.get("/console/{tenant_id}")
async def home(tenant_id: str) -> RedirectResponse:
    return RedirectResponse(f"/console/{tenant_id}/credits", status_code=303)


def _day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(datetime.fromisoformat(value).date(), time(0), tzinfo=UTC)
    except ValueError:
        return None


@router.get("/console/{tenant_id}/credits")
async def credits(
    request: Request,
    tenant_id: str,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    type: Annotated[str | None, Query(max_length=80)] = None,
    site: Annotated[str | None, Query(max_length=200)] = None,
    personnel: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    notice: Annotated[str | None, Query(max_length=300)] = None,
    error: bool = False,
) -> Response:
    ctx, caller, tenant, words, session = await _visit(request, tenant_id)
    until_day = _day(until)
    query = LedgerQuery(
        since=_day(since),
        until=until_day + timedelta(days=1) if until_day else None,
        entry_type=type or None,
        site=site or None,
        personnel=personnel or None,
    )
    async with ctx.ops.wallet_store() as store:
        wallet = wallet_view(await store.wallet(tenant_id))
        total = await store.count_entries(tenant_id, query)
    rows = await ctx.ops.ledger(
        tenant_id, limit=PAGE_SIZE, skip=(page - 1) * PAGE_SIZE, query=query, language=words.language
    )
    filters = {"type": type, "site": site, "personnel": personnel, "since": since, "until": until}
    kept = {k: v for k, v in filters.items() if v}

    def at(n: int) -> str:
        return f"?{urlencode({**kept, 'page': n})}"

    return _page(
        "credits",
        words,
        tenant=tenant,
        member=caller.member,
        wallet=wallet,
        rows=rows,
        total=total,
        filters=filters,
        page_number=page,
        previous_url=at(page - 1),
        next_url=at(page + 1) if page * PAGE_SIZE < total else None,
        is_admin=session["role"] == "admin",
        admins=[m.email for m in tenant.admins()],
        csrf_token=session["csrf_token"],
        notice=notice,
        notice_error=error,
    )


@router.post("/console/{tenant_id}/credits/top-up")
async def top_up(
    request: Request, tenant_id: str, credits: Annotated[str, Form(max_length=30)], csrf_token: Annotated[str, Form()]
) -> RedirectResponse:
    ctx, caller, _, words, session = await _visit(request, tenant_id)  # the CSRF token is checked by `principal`
    del csrf_token
    back = f"/console/{tenant_id}/credits"
    try:
        amount = Decimal(credits)
        if amount <= 0 or amount.as_tuple().exponent < -6:  # type: ignore[operator]
            raise InvalidOperation
    except InvalidOperation:
        return _back(back, words("refused", detail=credits), error=True)
    if session["role"] != "admin":
        detail = words("only_admins", admins=caller.member)
        return _back(back, words("refused", detail=detail), error=True)
    command = wire.TopUp(
        command_id=f"topup:console:{uuid.uuid4()}",
        tenant_id=tenant_id,
        issued_at=datetime.now(UTC),
        credits=amount,
        requested_by=str(caller.member),
    )
    await ctx.store.record_command(command.command_id, tenant_id, "wallet", command.kind, command.issued_at)
    await ctx.ops.send(command, wait=0)
    status = await ctx.ops.wait_status(tenant_id, command.command_id, "wallet", wait=10)
    if status["status"] == "applied":
        notice, error = words("credited", credits=words.credits(amount)), False
    elif status["status"] in ("pending", "processing"):
        notice, error = words("requested"), False
    else:
        notice, error = words("refused", detail=status["detail"] or status["reason"]), True
    return _back(back, notice, error=error)


# --- subscription, billing, notifications --------------------------------------------------------------------


@router.get("/console/{tenant_id}/subscription")
async def subscription_page(
    request: Request,
    tenant_id: str,
    preview_plan: Annotated[str | None, Query(max_length=41)] = None,
    preview_interval: Annotated[Literal["monthly", "quarterly", "annual"] | None, Query()] = None,
    notice: Annotated[str | None, Query(max_length=500)] = None,
    error: bool = False,
) -> Response:
    from services.subscriptions.domain.catalogue import catalogue_from

    ctx, caller, tenant, words, session = await _visit(request, tenant_id)
    view = await ctx.ops.plan(tenant_id)
    async with ctx.ops.subscription_store() as store:
        account, document = await store.account(tenant_id), await store.catalogue()
    catalogue = catalogue_from(document) if document else None
    preview = None
    sub = (view or {}).get("subscription")
    if preview_plan and sub:
        command = _subscription_command(
            "plan", tenant_id, caller, {"plan": preview_plan, "interval": preview_interval or sub["interval"]}
        )
        preview = await ctx.ops.preview(command) if command is not None else None
        if preview and preview["refused"]:
            preview["detail"] = reason_text(words, preview["refused"], preview["detail"], sub["renews_on"])
    addon = next(iter(catalogue.addons.values()), None) if catalogue else None
    current_addon = next((a for a in (sub or {}).get("addons", []) if addon and a["addon"] == addon.code), None)
    return _page(
        "subscription",
        words,
        tenant=tenant,
        member=caller.member,
        view=view,
        preview=preview,
        preview_plan=preview_plan,
        preview_interval=preview_interval or (sub or {}).get("interval"),
        plans=list(catalogue.plans.values()) if catalogue else [],
        addon_name=addon.name if addon else "",
        addon_code=addon.code if addon else "",
        addon_plans=list(addon.plans.values()) if addon else [],
        current_addon=current_addon,
        billing=account.billing_info,
        is_admin=session["role"] == "admin",
        admins=[m.email for m in tenant.admins()],
        csrf_token=session["csrf_token"],
        notice=notice,
        notice_error=error,
    )


def reason_text(words: Words, reason: str | None, detail: str | None, renews_on: str | None) -> str:
    """A refusal in the reader's language: the rule behind the reason code, with its date or card."""
    if reason == "within_15_days_of_renewal" and renews_on:
        return words("refused", detail=words("fifteen_days", day=words.day(renews_on)))
    if reason == "payment_method_refused" and detail:
        key = "card_prepaid" if "prepaid" in detail else "card_expired" if "expired" in detail else None
        if key:
            return words("refused", detail=words(key, expiry=detail.rsplit(" ", 1)[-1]))
    if reason == "not_an_admin":
        return words("refused", detail=words("not_an_admin"))
    return words("refused", detail=detail or reason or "")


def _subscription_command(action: str, tenant_id: str, caller: Principal, form: dict[str, str]) -> Any:
    """The subscription command a console form asks for (None: the form does not say enough)."""
    from pydantic import ValidationError

    from schemas import subscriptions as sw

    base = {
        "command_id": f"{action}:console:{uuid.uuid4()}",
        "tenant_id": tenant_id,
        "issued_at": datetime.now(UTC),
        "by": caller.member,
    }
    try:
        match action:
            case "start":
                return sw.Start(
                    **base,
                    plan=form["plan"],
                    interval=form.get("interval", "monthly"),
                    seats=int(form.get("seats") or 1),
                )
            case "plan":
                return sw.ChangePlan(**base, plan=form["plan"], interval=form.get("interval") or None)
            case "seats":
                return sw.ChangeSeats(**base, seats=int(form["seats"]))
            case "addon":
                return sw.ChangeAddOn(
                    **base, addon=form["addon"], plan=form.get("plan") or None, seats=int(form.get("seats") or 1)
                )
            case "cancel":
                return sw.Cancel(**base)
            case "reactivate":
                return sw.Reactivate(**base)
            case "billing-info":
                info = sw.BillingInfo(
                    company_name=form["company_name"],
                    address_line1=form["address_line1"],
                    postal_code=form["postal_code"],
                    city=form["city"],
                    country=form["country"].upper(),
                    vat_number=form.get("vat_number") or None,
                )
                return sw.SetBillingInfo(**base, billing_info=info)
            case "payment-method":
                if form.get("sepa"):
                    return sw.SetPaymentMethod(**base, method="sepa", iban_last4=form["sepa"].upper())
                brand, last4, expiry = form["card"].split()
                month, year = expiry.split("/")
                card = sw.Card(
                    brand=brand,
                    last4=last4,
                    exp_month=int(month),
                    exp_year=int(year),
                    funding=form.get("funding") or "credit",
                )
                return sw.SetPaymentMethod(**base, method="card", card=card)
    except (KeyError, ValueError, ValidationError):
        return None
    return None


@router.post("/console/{tenant_id}/subscription/{action}")
async def subscription_action(request: Request, tenant_id: str, action: str) -> RedirectResponse:
    ctx, caller, _, words, session = await _visit(request, tenant_id)  # the CSRF token is checked by `principal`
    back = f"/console/{tenant_id}/subscription"
    form = {k: str(v) for k, v in (await request.form()).items()}
    command = _subscription_command(action, tenant_id, caller, form)
    if session["role"] != "admin" or command is None:
        detail = words("only_admins", admins=caller.member) if command else form.get("plan") or action
        return _back(back, words("refused", detail=detail), error=True)
    await ctx.store.record_command(command.command_id, tenant_id, "subscriptions", command.kind, command.issued_at)
    await ctx.ops.send_subscription(command, wait=0)
    status = await ctx.ops.wait_status(tenant_id, command.command_id, "subscriptions", wait=10)
    if status["status"] == "refused":
        view = await ctx.ops.plan(tenant_id)
        renews = ((view or {}).get("subscription") or {}).get("renews_on")
        notice, error = reason_text(words, status["reason"], status["detail"], renews), True
    elif status["status"] == "applied" and action == "cancel":
        ended = next((e for e in status["events"] if "last_day_of_access" in e), None)
        notice = words("cancelled", day=words.day(ended["last_day_of_access"])) if ended else words("applied")
        error = False
    else:
        notice, error = words("applied"), False
    return _back(back, notice, error=error)


@router.get("/console/{tenant_id}/billing")
async def billing_page(request: Request, tenant_id: str) -> Response:
    from creditflow.views import invoice_row

    ctx, caller, tenant, words, _ = await _visit(request, tenant_id)
    async with ctx.ops.subscription_store() as store:
        invoices = [invoice_row(i) for i in await store.invoices(tenant_id, limit=100)]
    return _page("billing", words, tenant=tenant, member=caller.member, invoices=invoices)


@router.get("/console/{tenant_id}/notifications")
async def notifications_page(request: Request, tenant_id: str) -> Response:
    ctx, caller, tenant, words, _ = await _visit(request, tenant_id)
    async with ctx.ops.notification_log() as log:
        rows = await log.list(tenant_id, limit=100)
    return _page("notifications", words, tenant=tenant, member=caller.member, rows=rows)


@router.get("/console/{tenant_id}/usage")
async def usage_page(
    request: Request,
    tenant_id: str,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] = None,
) -> Response:
    ctx, caller, tenant, words, _ = await _visit(request, tenant_id)
    view = await ctx.ops.usage_view(tenant_id, period, words.language)
    return _page("usage", words, tenant=tenant, member=caller.member, view=view)


@router.post("/console/{tenant_id}/credits/settings")
async def credit_settings(request: Request, tenant_id: str) -> RedirectResponse:
    """Automatic recharge and alert thresholds (Teamleader's "activer la recharge automatique", Digify's alerts)."""
    ctx, caller, _, words, session = await _visit(request, tenant_id)  # the CSRF token is checked by `principal`
    back = f"/console/{tenant_id}/credits"
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        thresholds = [Decimal(v) for v in form.get("thresholds", "").replace(",", " ").split()]
        changes: dict[str, Any] = {"thresholds": thresholds}
        if form.get("enabled") == "on":
            changes["auto_recharge"] = wire.AutoRechargeRule(
                trigger=Decimal(form["below"]),
                mode="fixed",
                amount=Decimal(form["buy"]),
                monthly_cap=Decimal(form["cap"]),
            )
        else:
            changes["disable_auto_recharge"] = True
        command = wire.Configure(
            command_id=f"configure:console:{uuid.uuid4()}",
            tenant_id=tenant_id,
            issued_at=datetime.now(UTC),
            by=caller.member,
            **changes,
        )
    except (KeyError, InvalidOperation, ValueError):
        return _back(back, words("refused", detail="?"), error=True)
    if session["role"] != "admin":
        notice = words("refused", detail=words("not_an_admin"))
        return _back(back, notice, error=True)
    await ctx.store.record_command(command.command_id, tenant_id, "wallet", command.kind, command.issued_at)
    await ctx.ops.send(command, wait=0)
    status = await ctx.ops.wait_status(tenant_id, command.command_id, "wallet", wait=10)
    failed = status["status"] not in ("applied", "pending")
    notice = words("refused", detail=status["detail"] or status["reason"]) if failed else words("applied")
    return _back(back, notice, error=failed)
