"""Webhook endpoints (operator): register with a signing secret shown once, change, rotate, delete; the delivery
log; replays. The notifications worker applies the commands and delivers."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, Field

from creditflow.webhooks import UnknownEventType, WebhooksNotConfigured, endpoint_id_for, salt_for
from schemas.common import Email, Label, TenantId, UtcDatetime
from schemas.webhooks import EVENT_TYPES, EventType

from ..context import Caller, Ctx, operator_only
from ..idempotency import NewId, once
from ..problems import Problem, responses
from .common import CommandAccepted, Cursor, IdempotencyKey, Limit, accepted, decode_cursor, encode_cursor

router = APIRouter(tags=["webhooks"], responses=responses(400, 401, 403, 404, 422))
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandAccepted, "description": "Sent, not applied within the wait: follow `status_url`."}
}
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES) + 1)]


class EndpointBody(BaseModel):
    model_config = {"extra": "forbid"}
    url: AnyHttpUrl
    event_types: EventTypes = Field(description="Event types to receive (`GET /v1/webhook-event-types`); `*`: all.")
    tenant_ids: Annotated[list[TenantId], Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="Only these tenants' events; left out: every tenant's."
    )
    alert_emails: Annotated[list[Email], Field(max_length=20)] = Field(
        default_factory=list, description="Told by e-mail if the endpoint is disabled for failing."
    )
    description: Label | None = None


class EndpointChange(BaseModel):
    """Fields left out stay as they are; `enabled: true` turns a disabled endpoint on again."""

    model_config = {"extra": "forbid"}
    url: AnyHttpUrl | None = None
    event_types: EventTypes | None = None
    tenant_ids: Annotated[list[TenantId], Field(min_length=1, max_length=1000)] | None = None
    alert_emails: Annotated[list[Email], Field(max_length=20)] | None = None
    description: Label | None = None
    enabled: bool | None = None


class ReplayBody(BaseModel):
    model_config = {"extra": "forbid"}
    delivery_id: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    since: UtcDatetime | None = Field(default=None, description="Events received from this instant ...")
    until: UtcDatetime | None = Field(default=None, description="... up to this one, excluded.")


def _refused(outcome: dict[str, Any] | None) -> None:
    if outcome and outcome.get("status") == "refused":
        status = 404 if outcome["reason"] == "not_found" else 409 if outcome["reason"] == "endpoint_exists" else 422
        raise Problem(status, outcome["reason"], outcome.get("detail"))


async def _sent(ctx: Ctx, command_id: str, call: Any) -> Any:
    """Record the command for `/v1/commands/{id}`, then run it; the checks the application layer makes (no
    signing key, an unknown event type) are problems, not 500s."""
    await ctx.store.record_command(command_id, "", "webhooks", "webhook", datetime.now(UTC))
    try:
        return await call
    except WebhooksNotConfigured as exc:
        raise Problem(409, "webhooks_not_configured", str(exc)) from exc
    except UnknownEventType as exc:
        raise Problem(422, "unknown_event_type", str(exc)) from exc
    except TimeoutError:
        return None


@router.get("/v1/webhook-event-types", summary="The event types an endpoint may subscribe to")
async def event_types(caller: Caller) -> dict[str, Any]:
    operator_only(caller)
    return {"data": ["*", *EVENT_TYPES]}


@router.post(
    "/v1/webhook-endpoints",
    status_code=201,
    responses={**responses(409), **ACCEPTED},
    summary="Register an endpoint (operator); the answer shows its signing secret, once",
)
async def create_endpoint(
    body: EndpointBody, request: Request, ctx: Ctx, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    operator_only(caller)
    hooks = ctx.ops.webhooks

    async def run(new_id: NewId) -> tuple[int, Any]:
        command_id = new_id("webhook")
        result = await _sent(
            ctx,
            command_id,
            hooks.create(
                url=str(body.url),
                event_types=list(body.event_types),
                tenant_ids=body.tenant_ids,
                alert_emails=list(body.alert_emails),
                description=body.description,
                command_id=command_id,
                wait=ctx.settings.creditflow_wait_seconds,
            ),
        )
        if result is None:  # not applied within the wait: the secret is still this one
            endpoint_id = endpoint_id_for(command_id)
            code, answer = accepted(command_id)
            return code, answer | {
                "endpoint_id": endpoint_id,
                "secret": hooks.secret(endpoint_id, salt_for(command_id)),
            }
        _refused(result["outcome"])
        endpoint = await hooks.endpoint(result["endpoint_id"])
        return 201, {**(endpoint or {}), "command_id": command_id, "secret": result["secret"]}

    def restore(stored: dict[str, Any]) -> dict[str, Any]:
        command_id = stored["command_id"]
        return stored | {"secret": hooks.secret(endpoint_id_for(command_id), salt_for(command_id))}

    return await once(request, ctx, caller, run, unstored="secret", restore=restore)


@router.get("/v1/webhook-endpoints", summary="Every endpoint, by id (operator)")
async def list_endpoints(ctx: Ctx, caller: Caller, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    operator_only(caller)
    after = decode_cursor(cursor)
    rows = [e for e in await ctx.ops.webhooks.endpoints() if after is None or e["endpoint_id"] > str(after)]
    page = rows[:limit]
    return {"data": page, "next_cursor": encode_cursor(page[-1]["endpoint_id"]) if len(rows) > limit else None}


async def _endpoint(ctx: Ctx, endpoint_id: str) -> dict[str, Any]:
    found = await ctx.ops.webhooks.endpoint(endpoint_id)
    if found is None:
        raise Problem(404, "not_found", f"no endpoint {endpoint_id!r}")
    return found


@router.get("/v1/webhook-endpoints/{endpoint_id}", summary="One endpoint: its state and what it receives")
async def get_endpoint(endpoint_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    operator_only(caller)
    return await _endpoint(ctx, endpoint_id)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}",
    responses={**responses(409), **ACCEPTED},
    summary="Change an endpoint: URL, event types, tenants, alert e-mails; enable or disable it",
)
async def change_endpoint(
    endpoint_id: str,
    body: EndpointChange,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    operator_only(caller)
    await _endpoint(ctx, endpoint_id)

    async def run(new_id: NewId) -> tuple[int, Any]:
        command_id = new_id("webhook")
        changes = body.model_dump(exclude_none=True, mode="json")
        result = await _sent(
            ctx,
            command_id,
            ctx.ops.webhooks.update(
                endpoint_id, command_id=command_id, wait=ctx.settings.creditflow_wait_seconds, **changes
            ),
        )
        if result is None:
            return accepted(command_id)
        _refused(result["outcome"])
        return 200, {**await _endpoint(ctx, endpoint_id), "command_id": command_id}

    return await once(request, ctx, caller, run)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    responses={**responses(409), **ACCEPTED},
    summary="A new signing secret, shown once in the answer; the old one stops signing",
)
async def rotate_secret(
    endpoint_id: str, request: Request, ctx: Ctx, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    operator_only(caller)
    await _endpoint(ctx, endpoint_id)
    hooks = ctx.ops.webhooks

    async def run(new_id: NewId) -> tuple[int, Any]:
        command_id = new_id("webhook")
        result = await _sent(
            ctx,
            command_id,
            hooks.update(
                endpoint_id, rotate_secret=True, command_id=command_id, wait=ctx.settings.creditflow_wait_seconds
            ),
        )
        secret = hooks.secret(endpoint_id, salt_for(command_id))
        if result is None:
            return accepted(command_id)[0], accepted(command_id)[1] | {"endpoint_id": endpoint_id, "secret": secret}
        _refused(result["outcome"])
        return 200, {"endpoint_id": endpoint_id, "command_id": command_id, "secret": secret}

    def restore(stored: dict[str, Any]) -> dict[str, Any]:
        return stored | {"secret": hooks.secret(endpoint_id, salt_for(stored["command_id"]))}

    return await once(request, ctx, caller, run, unstored="secret", restore=restore)


@router.delete(
    "/v1/webhook-endpoints/{endpoint_id}",
    responses=ACCEPTED,
    summary="Remove an endpoint: nothing more is recorded or sent for it",
)
async def delete_endpoint(endpoint_id: str, ctx: Ctx, caller: Caller) -> JSONResponse:
    operator_only(caller)
    await _endpoint(ctx, endpoint_id)
    command_id = ctx.ops.webhooks.new_command_id()
    result = await _sent(
        ctx,
        command_id,
        ctx.ops.webhooks.delete(endpoint_id, command_id=command_id, wait=ctx.settings.creditflow_wait_seconds),
    )
    if result is None:
        return JSONResponse(accepted(command_id)[1], status_code=202)
    _refused(result["outcome"])
    return JSONResponse({"endpoint_id": endpoint_id, "deleted": True, "command_id": command_id})


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}/deliveries",
    summary="The delivery log, newest first: status, attempts, each attempt's answer",
)
async def deliveries(
    endpoint_id: str,
    ctx: Ctx,
    caller: Caller,
    status: Annotated[Literal["pending", "delivered", "failed", "held"] | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    operator_only(caller)
    await _endpoint(ctx, endpoint_id)
    after = decode_cursor(cursor)
    before = None
    if after is not None:
        if not (isinstance(after, list) and len(after) == 2 and all(isinstance(v, str) for v in after)):
            raise Problem(400, "invalid_cursor", "not a cursor this API gave")
        try:
            before = (datetime.fromisoformat(after[0]), after[1])
        except ValueError as exc:
            raise Problem(400, "invalid_cursor", "not a cursor this API gave") from exc
    rows = await ctx.ops.webhooks.deliveries(endpoint_id, status=status, limit=limit + 1, before=before)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor([page[-1]["created_at"], page[-1]["delivery_id"]])
    return {"data": page, "next_cursor": next_cursor}


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/replay",
    responses=ACCEPTED,
    summary="Send again one delivery, or those of events received in a time range: same body, same event id",
)
async def replay(
    endpoint_id: str,
    body: ReplayBody,
    request: Request,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    operator_only(caller)
    await _endpoint(ctx, endpoint_id)
    if body.delivery_id is None and body.since is None and body.until is None:
        raise Problem(422, "nothing_to_replay", "name a delivery_id, or a time range (since and/or until)")

    async def run(new_id: NewId) -> tuple[int, Any]:
        command_id = new_id("webhook")
        result = await _sent(
            ctx,
            command_id,
            ctx.ops.webhooks.replay(
                endpoint_id,
                delivery_id=body.delivery_id,
                since=body.since,
                until=body.until,
                command_id=command_id,
                wait=ctx.settings.creditflow_wait_seconds,
            ),
        )
        if result is None:
            return accepted(command_id)
        outcome = result["outcome"] or {}
        _refused(outcome)
        return 200, {"endpoint_id": endpoint_id, "command_id": command_id, "replayed": outcome.get("replayed", 0)}

    return await once(request, ctx, caller, run)
