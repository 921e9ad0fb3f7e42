"""Usage: events in over HTTP (one, or a batch of up to 1,000, each answered), and usage per billing period."""

import asyncio
import base64
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel

from creditflow.usage_intake import MAX_BATCH, NotABatch, check_events, split_events
from schemas import topics
from schemas.deadletter import DeadLetter

from ..context import Caller, Ctx, Scoped, require
from ..problems import Problem, responses

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}", dependencies=[Scoped], tags=["usage"], responses=responses(401, 403, 404)
)


class EventResult(BaseModel):
    index: int
    event_id: str | None
    status: Literal["accepted", "rejected"]
    reason: str | None = None
    detail: str | None = None


class IntakeResult(BaseModel):
    accepted: int
    rejected: int
    results: list[EventResult]


_EXAMPLE = {
    "event_id": "sms-2026-11-22-000123",
    "tenant_id": "insypro",
    "type": "sms",
    "quantity": 1,
    "occurred_at": "2026-11-22T10:15:00+01:00",
    "site": "Insypro",
    "personnel": "Jean-Luc Lemaire",
}


@router.post(
    "/usage-events",
    status_code=202,
    response_model=IntakeResult,
    responses=responses(400, 413, 422),
    summary=f"One usage event or an array of up to {MAX_BATCH}, following schemas/json/usage-event.v1.json",
)
async def usage_events(
    tenant_id: str,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    body: Annotated[Any, Body(description="A usage event, or an array of them.", examples=[_EXAMPLE])] = None,
) -> dict[str, Any]:
    require(caller, tenant_id, "usage:write")
    raw = await request.body()
    try:
        items = split_events(raw)
    except NotABatch as exc:
        raise Problem(
            422 if "at most" in str(exc) else 400,
            "batch_too_large" if "at most" in str(exc) else "malformed_json",
            str(exc),
        ) from None
    checked = check_events(items, tenant_id, now=datetime.now(UTC))
    producer = ctx.ops.producer
    key = tenant_id.encode()
    sends = [await producer.send(topics.USAGE_EVENTS, c.raw, key=key) for c in checked if c.reason is None]
    await asyncio.gather(*sends)
    for c in checked:
        if c.reason is not None:
            await _dead_letter(ctx, tenant_id, c.index, c.raw, c.reason, c.detail or "")
    results = [
        {
            "index": c.index,
            "event_id": c.event_id,
            "status": "rejected" if c.reason else "accepted",
            "reason": c.reason,
            "detail": c.detail,
        }
        for c in checked
    ]
    rejected = sum(1 for c in checked if c.reason)
    return {"accepted": len(checked) - rejected, "rejected": rejected, "results": results}


async def _dead_letter(ctx: Ctx, tenant_id: str, index: int, raw: bytes, reason: str, detail: str) -> None:
    letter = DeadLetter(
        reason=reason,
        detail=detail[:2000],
        service="api",
        source_topic="http:POST /v1/tenants/{tenant_id}/usage-events",
        source_partition=-1,
        source_offset=index,
        key=tenant_id,
        original_base64=base64.b64encode(raw).decode(),
        failed_at=datetime.now(UTC),
    )
    await ctx.ops.producer.send(topics.USAGE_DLQ, letter.model_dump_json().encode(), key=tenant_id.encode())


@router.get("/usage", summary="Usage per meter and billing period (events, quantity, credits priced and charged)")
async def usage(
    tenant_id: str,
    ctx: Ctx,
    caller: Caller,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$")] = None,
) -> dict[str, Any]:
    require(caller, tenant_id, "usage:read")
    async with ctx.ops.usage_store() as store:
        rows = await store.usage(tenant_id, period)
    return {"data": rows}
