"""The console: server-rendered pages for a tenant's admins and members, reached only through a portal session,
in the member's language (else the tenant's; `?lang=` switches and is remembered). Plain HTML forms; a state
change carries the session's CSRF token and goes through the same commands as the API."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
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
        return RedirectResponse(f"{back}?{urlencode({'notice': words('refused', detail=credits), 'error': 1})}", 303)
    if session["role"] != "admin":
        detail = words("only_admins", admins=caller.member)
        return RedirectResponse(f"{back}?{urlencode({'notice': words('refused', detail=detail), 'error': 1})}", 303)
    command = wire.TopUp(
        command_id=f"topup:console:{session_hash(str(datetime.now(UTC)) + caller.key_id)[:24]}",
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
    return RedirectResponse(f"{back}?{urlencode({'notice': notice, **({'error': 1} if error else {})})}", 303)
