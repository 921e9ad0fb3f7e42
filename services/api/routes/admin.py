"""Tenants and members (operator), the outcome of any command, the notification log, portal sessions."""

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from schemas.common import Email, Label, TenantId

from ..context import SESSION_COOKIE, Caller, Ctx, operator_only, require, session_hash
from ..domain.keys import SCOPES
from ..idempotency import NewId, once
from ..problems import Problem, responses
from .common import CommandStatus, Cursor, IdempotencyKey, Limit, decode_cursor, encode_cursor

router = APIRouter(responses=responses(400, 401, 403, 404, 422))
SESSION_SCOPES = SCOPES
"""A session may try anything its tenant's people do; what only an admin may do is refused `not_an_admin` for a
member by the same check as for an API key acting on a member's behalf."""


class MemberBody(BaseModel):
    model_config = {"extra": "forbid"}
    email: Email
    role: Literal["admin", "member"] = "member"
    language: Literal["fr", "en"] | None = None
    name: Label | None = None


class TenantBody(BaseModel):
    """The whole tenant: creating it again with other members replaces them."""

    model_config = {"extra": "forbid"}
    tenant_id: TenantId
    name: Label | None = None
    language: Literal["fr", "en"] = "fr"
    members: Annotated[list[MemberBody], Field(min_length=1, max_length=1000)]
    billing_anchor: date | None = None


class PortalSessionBody(BaseModel):
    model_config = {"extra": "forbid"}
    tenant_id: TenantId
    member: Email


def _tenant_view(tenant: Any) -> dict[str, Any]:
    return tenant.model_dump(mode="json", exclude={"kind", "schema_version"})  # type: ignore[no-any-return]


@router.post(
    "/v1/tenants",
    tags=["tenants"],
    status_code=201,
    responses=responses(409, 422),
    summary="Create or update a tenant with its members (operator); answers once every worker knows it",
)
async def put_tenant(
    body: TenantBody, request: Request, ctx: Ctx, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    operator_only(caller)
    if not any(m.role == "admin" for m in body.members):
        raise Problem(422, "schema_violation", "a tenant needs at least one admin")

    async def run(new_id: NewId) -> tuple[int, Any]:
        del new_id
        from schemas.tenants import Member

        tenant = await ctx.ops.create_tenant(
            body.tenant_id,
            name=body.name,
            admins=[],
            members=[],
            language=body.language,
            billing_anchor=body.billing_anchor,
            wait=ctx.settings.creditflow_wait_seconds,
            member_list=[Member(**m.model_dump()) for m in body.members],
        )
        return 201, _tenant_view(tenant)

    return await once(request, ctx, caller, run)


@router.get("/v1/tenants", tags=["tenants"], summary="Every tenant (operator), by id")
async def list_tenants(ctx: Ctx, caller: Caller, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    operator_only(caller)
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise Problem(400, "invalid_cursor", "not a cursor this API gave")
    found = await ctx.ops.tenants(limit=limit + 1, after=after)
    page = [_tenant_view(t) for t in found[:limit]]
    return {"data": page, "next_cursor": encode_cursor(page[-1]["tenant_id"]) if len(found) > limit else None}


@router.get("/v1/tenants/{tenant_id}", tags=["tenants"], summary="A tenant and its members")
async def get_tenant(tenant_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    require(caller, tenant_id, "wallet:read")
    tenant = await ctx.ops.tenant(tenant_id)
    if tenant is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")
    return _tenant_view(tenant)


@router.get(
    "/v1/commands/{command_id}",
    tags=["commands"],
    response_model=CommandStatus,
    summary="A command's outcome: applied, or refused with the reason; `wait` holds the answer until known",
)
async def command(
    command_id: str, ctx: Ctx, caller: Caller, wait: Annotated[float, Query(ge=0, le=30)] = 0
) -> dict[str, Any]:
    found = await ctx.store.command(command_id)
    if found is None or not caller.reaches(found["tenant_id"]):
        raise Problem(404, "not_found", f"no command {command_id!r}")
    return await ctx.ops.wait_status(found["tenant_id"], command_id, found["service"], wait=wait)


@router.get(
    "/v1/tenants/{tenant_id}/notifications", tags=["notifications"], summary="What was e-mailed to whom, newest first"
)
async def notifications(tenant_id: str, ctx: Ctx, caller: Caller, limit: Limit = 50) -> dict[str, Any]:
    require(caller, tenant_id, "notifications:read")
    async with ctx.ops.notification_log() as log:
        rows = await log.list(tenant_id, limit=limit)
    keep = ("_id", "to", "template", "status", "subject", "created_at", "sent_at", "attempts", "event_id")
    data = [
        {
            ("delivery_id" if k == "_id" else k): (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in row.items()
            if k in keep
        }
        for row in rows
    ]
    return {"data": data}


# --- portal sessions: a vendor's backend links its user to the console ---------------------------------------


@router.post(
    "/v1/portal-sessions",
    tags=["portal"],
    status_code=201,
    responses=responses(422),
    summary="A one-time link for a tenant's member to the console (operator), valid for minutes",
)
async def portal_session(
    body: PortalSessionBody, request: Request, ctx: Ctx, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    operator_only(caller)
    tenant = await ctx.ops.tenant(body.tenant_id)
    member = next((m for m in tenant.members if m.email.lower() == body.member.lower()), None) if tenant else None
    if tenant is None or member is None:
        raise Problem(404, "not_found", f"no member {body.member!r} in tenant {body.tenant_id!r}")

    async def run(new_id: NewId) -> tuple[int, Any]:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        link_expires = now + timedelta(minutes=ctx.settings.portal_link_minutes)
        await ctx.store.add_session(
            {
                "_id": new_id("session"),
                "tenant_id": tenant.tenant_id,
                "member": member.email,
                "role": member.role,
                "scopes": list(SESSION_SCOPES),
                "token_hash": session_hash(token),
                "link_expires_at": link_expires,
                "expires_at": link_expires,
                "redeemed_at": None,
                "csrf_token": secrets.token_urlsafe(24),
                "created_at": now,
            }
        )
        url = f"{ctx.settings.public_url}/portal/enter?token={token}"
        return 201, {"url": url, "expires_at": link_expires.isoformat()}

    return await once(request, ctx, caller, run)


@router.get("/portal/enter", tags=["portal"], include_in_schema=False)
async def enter(ctx: Ctx, token: Annotated[str, Query(max_length=200)]) -> RedirectResponse:
    now = datetime.now(UTC)
    cookie = secrets.token_urlsafe(32)
    lifetime = timedelta(minutes=ctx.settings.portal_session_minutes)
    session = await ctx.store.redeem(session_hash(token), now, session_hash(cookie), now + lifetime)
    if session is None:
        raise Problem(403, "link_expired", "this link was used already or has expired; ask for a new one")
    response = RedirectResponse(f"/console/{session['tenant_id']}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.public_url.startswith("https://"),
        path="/",
    )
    return response


@router.get("/v1/session", tags=["portal"], summary="The portal session's member, tenant and CSRF token")
async def whoami(request: Request, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    if caller.kind != "session":
        raise Problem(403, "forbidden", "not a portal session")
    session = await ctx.store.session(session_hash(request.cookies.get(SESSION_COOKIE, "")), datetime.now(UTC))
    assert session is not None
    return {
        "tenant_id": caller.tenant_id,
        "member": caller.member,
        "role": session["role"],
        "scopes": list(caller.scopes),
        "csrf_token": session["csrf_token"],
    }
