"""Usage: events in over HTTP (one, or a batch of up to 1,000, each answered), and usage per billing period."""

import asyncio
import base64
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from creditflow.usage_intake import MAX_BATCH, NotABatch, check_events, split_events
from schemas import topics
from schemas.deadletter import DeadLetter
from schemas.usage import UsageEvent

from ..context import Caller, Ctx, Scoped, require
from ..idempotency import NewId, once
from ..problems import Problem, responses
from .common import IdempotencyKey

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}",
    dependencies=[Scoped],
    tags=["usage"],
    responses=responses(400, 401, 403, 404, 422),
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


_EVENT = {k: v for k, v in UsageEvent.model_json_schema().items() if k not in ("title",)}
_BODY = {
    "description": "A usage event, or an array of them (read byte for byte: not parsed twice).",
    "oneOf": [_EVENT, {"type": "array", "maxItems": MAX_BATCH, "items": _EVENT}],
    "example": {
        "event_id": "sms-2026-11-22-000123",
        "tenant_id": "insypro",
        "type": "sms",
        "quantity": 1,
        "occurred_at": "2026-11-22T10:15:00+01:00",
        "site": "Insypro",
        "personnel": "Jean-Luc Lemaire",
    },
}


@router.post(
    "/usage-events",
    status_code=202,
    response_model=IntakeResult,
    responses=responses(400, 413, 422),
    summary=f"One usage event or an array of up to {MAX_BATCH}, following schemas/json/usage-event.v1.json",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}}},
)
async def usage_events(
    tenant_id: str,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
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

    async def run(new_id: NewId) -> tuple[int, Any]:
        del new_id  # the events carry their own ids: metering charges each once
        checked = check_events(items, tenant_id, now=datetime.now(UTC))
        producer, key = ctx.ops.producer, tenant_id.encode()
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
        return 202, {"accepted": len(checked) - rejected, "rejected": rejected, "results": results}

    return await once(request, ctx, caller, run)


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
