"""Subscriptions: the plan with its next invoice and renewal date, and every change (start, plan, period,
users, add-ons, cancel, reactivate, billing information, payment method, apps) as a command; invoices and
their receipts in HTML and PDF."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from creditflow.views import invoice_row
from schemas import subscriptions as wire

from ..context import Caller, Ctx, Scoped, acting_admin, require
from ..idempotency import NewId, once
from ..problems import Problem, responses
from .common import ActingAs, CommandAccepted, Cursor, IdempotencyKey, Limit, accepted, decode_cursor, encode_cursor

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}",
    dependencies=[Scoped],
    tags=["subscriptions"],
    responses=responses(400, 401, 403, 404, 422),
)
Seats = Annotated[int, Field(ge=1, le=100_000)]


class _Body(BaseModel):
    model_config = {"extra": "forbid"}


class StartBody(_Body):
    plan: wire.Code
    interval: wire.Interval = "monthly"
    seats: Seats = 1
    addons: Annotated[list[wire.AddOnChoice], Field(max_length=10)] = Field(default_factory=list)
    start_on: date | None = Field(
        default=None,
        description="The first day of the first period (default today), e.g. for a subscription moved over.",
    )


class PlanBody(_Body):
    plan: wire.Code
    interval: wire.Interval | None = None
    seats: Seats | None = None


class IntervalBody(_Body):
    interval: wire.Interval


class SeatsBody(_Body):
    seats: Seats
    addon: wire.Code | None = None


class AddOnBody(_Body):
    addon: wire.Code
    plan: wire.Code | None = Field(description="The add-on's plan; null removes it at the renewal.")
    seats: Seats = 1


class PaymentMethodBody(_Body):
    method: Literal["card", "sepa"]
    card: wire.Card | None = None
    iban_last4: Annotated[str, Field(pattern=r"^[0-9A-Z]{4}$")] | None = None


class AppsBody(_Body):
    app: wire.Code
    users: Annotated[list[wire.AppUser], Field(max_length=10_000)]


class Empty(_Body):
    pass


def _command(cls: type, tenant_id: str, new_id: NewId, by: str, **fields: Any) -> Any:
    try:
        return cls(
            command_id=new_id(cls.__name__.lower()), tenant_id=tenant_id, issued_at=datetime.now(UTC), by=by, **fields
        )
    except ValueError as exc:
        raise Problem(422, "schema_violation", str(exc)) from None


async def _change(
    request: Request, ctx: Ctx, caller: Caller, tenant_id: str, acting_as: str | None, cls: type, **fields: Any
) -> JSONResponse:
    require(caller, tenant_id, "subscriptions:write")
    person = await acting_admin(ctx, caller, tenant_id, acting_as)

    async def run(new_id: NewId) -> tuple[int, Any]:
        command = _command(cls, tenant_id, new_id, person, **fields)
        await ctx.store.record_command(command.command_id, tenant_id, "subscriptions", command.kind, command.issued_at)
        await ctx.ops.send_subscription(command, wait=0)
        return accepted(command.command_id)

    return await once(request, ctx, caller, run)


Changed: dict[str, Any] = {"status_code": 202, "response_model": CommandAccepted, "responses": responses(409, 422)}


@router.get("/subscription", summary="The plan, its period, renewal date or last day of access, the next invoice")
async def subscription(tenant_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    require(caller, tenant_id, "subscriptions:read")
    view = await ctx.ops.plan(tenant_id)
    if view is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")
    return view


@router.post("/subscription/start", summary="Subscribe (free or paid)", **Changed)
async def start(
    tenant_id: str,
    body: StartBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.Start, **body.model_dump())


@router.post(
    "/subscription/plan", summary="Change the plan (upgrade now, prorated; downgrade at the renewal)", **Changed
)
async def change_plan(
    tenant_id: str,
    body: PlanBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.ChangePlan, **body.model_dump())


@router.post("/subscription/interval", summary="The billing period, from the next period on", **Changed)
async def change_interval(
    tenant_id: str,
    body: IntervalBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.ChangeInterval, **body.model_dump())


@router.post("/subscription/seats", summary="Users: more now (prorated, any day), fewer at the renewal", **Changed)
async def change_seats(
    tenant_id: str,
    body: SeatsBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.ChangeSeats, **body.model_dump())


@router.post("/subscription/addons", summary="Add an add-on or change its plan and users, or remove it", **Changed)
async def change_addon(
    tenant_id: str,
    body: AddOnBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.ChangeAddOn, **body.model_dump())


@router.post("/subscription/cancel", summary="Cancel: access continues to the last day of the period", **Changed)
async def cancel(
    tenant_id: str,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    body: Empty | None = None,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.Cancel)


@router.post("/subscription/reactivate", summary="Undo a cancellation before the last day", **Changed)
async def reactivate(
    tenant_id: str,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    body: Empty | None = None,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.Reactivate)


@router.post("/billing-info", summary="Company, address and VAT number printed on invoices", **Changed)
async def billing_info(
    tenant_id: str,
    body: wire.BillingInfo,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.SetBillingInfo, billing_info=body)


@router.post("/payment-method", summary="Card or SEPA; expired and prepaid cards are refused", **Changed)
async def payment_method(
    tenant_id: str,
    body: PaymentMethodBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.SetPaymentMethod, **body.model_dump())


@router.post("/apps", summary="The users of an app, each paying its monthly fee in credits", **Changed)
async def apps(
    tenant_id: str,
    body: AppsBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _change(request, ctx, caller, tenant_id, acting_as, wire.AssignApp, app=body.app, users=body.users)


# --- invoices ----------------------------------------------------------------------------------------------


@router.get("/invoices", tags=["invoices"], summary="The payment history, newest first")
async def invoices(
    tenant_id: str, ctx: Ctx, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    require(caller, tenant_id, "subscriptions:read")
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, str):
        raise Problem(400, "invalid_cursor", "not a cursor this API gave")
    async with ctx.ops.subscription_store() as store:
        found = await store.invoices(tenant_id, limit=limit + 1, before_number=before)
    page = [invoice_row(i) for i in found[:limit]]
    return {"data": page, "next_cursor": encode_cursor(page[-1]["number"]) if len(found) > limit else None}


async def _invoice(ctx: Ctx, caller: Caller, tenant_id: str, number: str) -> Any:
    require(caller, tenant_id, "subscriptions:read")
    async with ctx.ops.subscription_store() as store:
        invoice = await store.invoice(tenant_id, number)
        account, document = await store.account(tenant_id), await store.catalogue()
    if invoice is None:
        raise Problem(404, "not_found", f"no invoice {number!r}")
    return invoice, account, document


@router.get("/invoices/{number}", tags=["invoices"], summary="One invoice: lines, VAT, totals, status")
async def invoice(tenant_id: str, number: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    from creditflow.views import invoice_view

    found, _, _ = await _invoice(ctx, caller, tenant_id, number)
    return invoice_view(found)


@router.get(
    "/invoices/{number}/receipt.html",
    tags=["invoices"],
    response_class=HTMLResponse,
    summary="The invoice (a receipt once paid) as it was issued, as HTML",
)
async def receipt_html(tenant_id: str, number: str, ctx: Ctx, caller: Caller) -> HTMLResponse:
    from services.subscriptions.domain.catalogue import catalogue_from
    from services.subscriptions.receipt import render_receipt

    found, account, document = await _invoice(ctx, caller, tenant_id, number)
    return HTMLResponse(render_receipt(found, catalogue_from(document).seller, account.billing_info))


@router.get(
    "/invoices/{number}/receipt.pdf",
    tags=["invoices"],
    responses={200: {"content": {"application/pdf": {}}}},
    summary="The same, as a PDF to keep",
)
async def receipt_pdf(tenant_id: str, number: str, ctx: Ctx, caller: Caller) -> Response:
    from services.subscriptions.domain.catalogue import catalogue_from
    from services.subscriptions.receipt import render_receipt_pdf

    found, account, document = await _invoice(ctx, caller, tenant_id, number)
    pdf = render_receipt_pdf(found, catalogue_from(document).seller, account.billing_info)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'}
    )
