"""Wallet: balance with buckets, the ledger (filters, cursor pages, CSV), purchases, operator credits and
corrections, settings; the spend check from memory."""

import csv
import io
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from creditflow.views import LEDGER_COLUMNS, wallet_view
from schemas import wallet as wire
from schemas.money import Credits
from services.wallet.ports import LedgerQuery

from ..context import Caller, Ctx, Scoped, acting_admin, operator_only, require
from ..idempotency import NewId, once
from ..problems import Problem, responses
from ..spend_check import SpendCheckQuery, spend_answer
from .common import ActingAs, CommandAccepted, Cursor, IdempotencyKey, Limit, accepted, decode_cursor, encode_cursor

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}",
    dependencies=[Scoped],
    tags=["wallet"],
    responses=responses(400, 401, 403, 404, 422),
)
Positive = Annotated[Credits, Field(gt=0)]


class TopUpBody(BaseModel):
    model_config = {"extra": "forbid"}
    credits: Positive


class GrantBody(BaseModel):
    model_config = {"extra": "forbid"}
    credits: Positive
    kind: Literal["allowance", "promotional", "purchased"] = "promotional"
    expires_at: datetime | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=300)] = "granted by an operator"


class ReverseBody(BaseModel):
    model_config = {"extra": "forbid"}
    entry_id: Annotated[str, Field(min_length=1, max_length=300)]
    reason: Annotated[str, Field(min_length=1, max_length=300)]
    credits: Positive | None = Field(default=None, description="Refunds only: how much of the debit to give back.")


class AdjustmentBody(BaseModel):
    model_config = {"extra": "forbid"}
    credits: Credits = Field(description="Signed: -2.5 takes 2.5 credits away.")
    reason: Annotated[str, Field(min_length=1, max_length=300)]


class SettingsBody(BaseModel):
    """Fields left out stay as they are."""

    model_config = {"extra": "forbid"}
    policy: Literal["hard", "overdraft"] | None = None
    overdraft_limit: Annotated[Credits, Field(ge=0)] | None = None
    thresholds: Annotated[list[Credits], Field(max_length=20)] | None = None
    auto_recharge: wire.AutoRechargeRule | None = None
    disable_auto_recharge: bool = False
    credit_price: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=6)] | None = None
    payment_method: Annotated[str, Field(max_length=100)] | None = None


def _base(tenant_id: str, new_id: NewId, prefix: str) -> dict[str, Any]:
    from datetime import UTC

    return {"command_id": new_id(prefix), "tenant_id": tenant_id, "issued_at": datetime.now(UTC)}


async def _send(ctx: Ctx, command: Any) -> tuple[int, dict[str, Any]]:
    await ctx.store.record_command(command.command_id, command.tenant_id, "wallet", command.kind, command.issued_at)
    await ctx.ops.send(command, wait=0)
    return accepted(command.command_id)


@router.get("/wallet", summary="Balance, buckets with their expiries, and settings")
async def balance(tenant_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    require(caller, tenant_id, "wallet:read")
    async with ctx.ops.wallet_store() as store:
        wallet = await store.wallet(tenant_id)
    return wallet_view(wallet)


@router.get(
    "/wallet/ledger",
    summary="Ledger entries, newest first (Datetime, Site, Personnel, Type, Value); `format=csv` for a file",
    responses={200: {"content": {"text/csv": {}}}},
)
async def ledger(
    tenant_id: str,
    ctx: Ctx,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    since: datetime | None = None,
    until: datetime | None = None,
    type: Annotated[str | None, Query(max_length=80)] = None,
    site: Annotated[str | None, Query(max_length=200)] = None,
    personnel: Annotated[str | None, Query(max_length=200)] = None,
    format: Literal["json", "csv"] = "json",
    language: Literal["fr", "en"] | None = None,
) -> Any:
    require(caller, tenant_id, "wallet:read")
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, int):
        raise Problem(400, "invalid_cursor", "not a cursor this API gave")
    query = LedgerQuery(
        since=since, until=until, entry_type=type, site=site, personnel=personnel, before_sequence=before
    )
    rows = await ctx.ops.ledger(tenant_id, limit=limit + 1, query=query, language=language)
    page, more = rows[:limit], len(rows) > limit
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=LEDGER_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(page)
        headers = {"Content-Disposition": f'attachment; filename="ledger-{tenant_id}.csv"'}
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    return {"data": page, "next_cursor": encode_cursor(page[-1]["sequence"]) if more and page else None}


Posted: dict[str, Any] = {"status_code": 202, "response_model": CommandAccepted, "responses": responses(409, 422)}
Build = Callable[[dict[str, Any], str | None], Any]


async def _post(
    request: Request,
    ctx: Ctx,
    caller: Caller,
    tenant_id: str,
    prefix: str,
    build: Build,
    *,
    operator: bool = False,
    acting_as: str | None = None,
    admin: bool = False,
) -> JSONResponse:
    """One wallet command: scope, who may (an operator; or a tenant admin acting), then the command, sent once per
    Idempotency-Key. `build` makes it from the common fields and the acting admin."""
    require(caller, tenant_id, "wallet:write")
    if operator:
        operator_only(caller)
    person = await acting_admin(ctx, caller, tenant_id, acting_as) if admin else None

    async def run(new_id: NewId) -> tuple[int, Any]:
        try:
            command = build(_base(tenant_id, new_id, prefix), person)
        except ValueError as exc:
            raise Problem(422, "schema_violation", str(exc)) from None
        return await _send(ctx, command)

    return await once(request, ctx, caller, run)


@router.post(
    "/wallet/top-ups", summary="Buy credits (a tenant admin): paid through the provider, credited on success", **Posted
)
async def top_up(
    tenant_id: str,
    body: TopUpBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _post(
        request,
        ctx,
        caller,
        tenant_id,
        "topup",
        admin=True,
        acting_as=acting_as,
        build=lambda base, person: wire.TopUp(**base, credits=body.credits, requested_by=person),
    )


@router.post("/wallet/grants", summary="Give credits (operator)", **Posted)
async def grant(
    tenant_id: str, body: GrantBody, request: Request, ctx: Ctx, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _post(
        request,
        ctx,
        caller,
        tenant_id,
        "grant",
        operator=True,
        build=lambda base, _: wire.Grant(
            **base,
            amount=body.credits,
            grant_kind=body.kind,
            expires_at=body.expires_at,
            priority=body.priority,
            source=body.reason,
            granted_by="api",
        ),
    )


@router.post("/wallet/voids", summary="Cancel a ledger entry (operator)", **Posted)
async def void(
    tenant_id: str,
    body: ReverseBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _post(
        request,
        ctx,
        caller,
        tenant_id,
        "void",
        operator=True,
        build=lambda base, _: wire.Void(**base, entry_id=body.entry_id, reason=body.reason, by="api"),
    )


@router.post("/wallet/refunds", summary="Give back part or all of a debit (operator)", **Posted)
async def refund(
    tenant_id: str,
    body: ReverseBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if body.credits is None:
        raise Problem(422, "schema_violation", "a refund needs `credits`")
    amount = body.credits
    return await _post(
        request,
        ctx,
        caller,
        tenant_id,
        "refund",
        operator=True,
        build=lambda base, _: wire.Refund(**base, entry_id=body.entry_id, amount=amount, reason=body.reason, by="api"),
    )


@router.post("/wallet/adjustments", summary="An operator's correction, positive or negative", **Posted)
async def adjustment(
    tenant_id: str,
    body: AdjustmentBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _post(
        request,
        ctx,
        caller,
        tenant_id,
        "adjustment",
        operator=True,
        build=lambda base, _: wire.Adjustment(**base, amount=body.credits, reason=body.reason, by="api"),
    )


@router.post(
    "/wallet/settings",
    summary="Policy, thresholds, automatic recharge, credit price, payment method (a tenant admin)",
    **Posted,
)
async def settings(
    tenant_id: str,
    body: SettingsBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    acting_as: ActingAs = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _post(
        request,
        ctx,
        caller,
        tenant_id,
        "configure",
        admin=True,
        acting_as=acting_as,
        build=lambda base, person: wire.Configure(**base, by=person, **body.model_dump(exclude_none=True)),
    )


@router.get("/spend-check", tags=["usage"], summary="May the tenant spend this now? From memory, no database read")
async def spend_check(
    tenant_id: str, ctx: Ctx, caller: Caller, query: Annotated[SpendCheckQuery, Query()]
) -> dict[str, Any]:
    """Answered from the wallet's latest spend state, held in memory: no database read, no Kafka round trip. The
    answer trails the ledger by the time the wallet's spend state takes to arrive (`as_of` says which state was
    used); a debit the wallet has not applied yet is not counted, and the wallet's policy still refuses what
    does not fit. Graduated tiers are priced as the period's first units."""
    # Most checks are answered before they reach this route, by the fast path in `spend_check.py` (same query
    # model, same answer): this route answers the rest and documents the operation.
    require(caller, tenant_id, "usage:write")
    return spend_answer(ctx.spend, tenant_id, query)
