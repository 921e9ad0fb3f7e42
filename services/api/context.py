"""What every request handler reaches: the shared application layer (`creditflow.ops.Ops`, the same one the
CLI uses), the API's own store and the in-memory spend view. Built once, in the app's lifespan."""

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, Request

from creditflow.ops import Ops
from creditflow.spend import SpendView

from .adapters.mongo import ApiStore
from .config import ApiSettings
from .domain.keys import ApiKey, Principal, key_principal, parse_key
from .problems import Problem

SESSION_COOKIE = "cf_session"
CSRF_HEADER = "x-csrf-token"
log = structlog.get_logger()


KEY_CACHE_SECONDS = 2.0
"""How long a replica trusts the key record it read: a revoked key stops working within this time."""
KEY_REFRESH_SECONDS = 1.0
"""A key in use is read again, in the background, once its record is this old: under load it does not expire, so
requests do not go to the database for it."""


@dataclass
class KeyCache:
    """Key records by id, read from the store at most every `KEY_CACHE_SECONDS` per key (not one database read
    per request); a key in use is read again in the background, one read at a time, before its record expires.
    Only what the store holds is cached: the hash, never a presented secret. A record's age counts from the
    moment its read began."""

    store: ApiStore
    clock: Callable[[], float] = time.monotonic
    _found: dict[str, tuple[float, ApiKey | None]] = field(default_factory=dict)
    _reading: dict[str, asyncio.Task[ApiKey | None]] = field(default_factory=dict)

    def cached(self, key_id: str) -> ApiKey | None:
        """The record as read less than `KEY_CACHE_SECONDS` ago, without waiting for the store; None when there
        is none (never read, read too long ago, or no such key): then `get` decides. A record older than
        `KEY_REFRESH_SECONDS` is read again in the background."""
        hit = self._found.get(key_id)
        if hit is None or hit[1] is None:
            return None
        age = self.clock() - hit[0]
        if age >= KEY_CACHE_SECONDS:
            return None
        if age >= KEY_REFRESH_SECONDS:
            self._refresh(key_id)
        return hit[1]

    async def get(self, key_id: str) -> ApiKey | None:
        """The record, read by this request itself when none is fresh: a slow database delays the requests that
        need a key read, never all the others behind one shared read."""
        key = self.cached(key_id)
        if key is not None:
            return key
        hit = self._found.get(key_id)
        if hit is not None and self.clock() - hit[0] < KEY_CACHE_SECONDS:  # read lately, and no such key
            return None
        return await self._fetch(key_id)

    def _refresh(self, key_id: str) -> None:
        """Read the record again in the background, unless a read of it is already under way."""
        if key_id not in self._reading:
            task = asyncio.get_running_loop().create_task(self._fetch(key_id))
            self._reading[key_id] = task
            task.add_done_callback(lambda done: self._done(key_id, done))

    def _done(self, key_id: str, task: asyncio.Task[ApiKey | None]) -> None:
        self._reading.pop(key_id, None)
        if not task.cancelled() and task.exception() is not None:  # a refresh nobody waited for: the next tries again
            log.warning("api_key_read_failed", error=type(task.exception()).__name__)

    async def _fetch(self, key_id: str) -> ApiKey | None:
        began = self.clock()
        key = await self.store.key(key_id)
        if len(self._found) > 10_000:
            self._found.clear()
        self._found[key_id] = (began, key)
        return key


@dataclass
class Context:
    settings: ApiSettings
    ops: Ops
    store: ApiStore
    spend: SpendView
    keys: KeyCache = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.store)


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(context)]


def session_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def principal(request: Request, ctx: Ctx) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or a portal session cookie. A session may change state
    only with its CSRF token in the `X-CSRF-Token` header (or the form's `csrf_token` field)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        parsed = parse_key(header[7:].strip())
        caller = key_principal(await ctx.keys.get(parsed[0]), parsed[1]) if parsed else None
        if caller is None:
            raise Problem(401, "unauthorized", "unknown or revoked API key")
        return caller
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await ctx.store.session(session_hash(cookie), datetime.now(UTC))
        if session is None:
            raise Problem(401, "unauthorized", "the portal session has expired; open a new link")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER)
            if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form"):
                sent = str((await request.form()).get("csrf_token") or "")
            if sent != session["csrf_token"]:
                raise Problem(403, "csrf_failed", "a state change from a session needs its CSRF token")
        return Principal(
            "session", session["_id"], session["tenant_id"], tuple(session["scopes"]), member=session["member"]
        )
    raise Problem(401, "unauthorized", "send an API key as `Authorization: Bearer <key>`")


Caller = Annotated[Principal, Depends(principal)]


async def tenant_scope(tenant_id: str, caller: Caller) -> None:
    """On every `/v1/tenants/{tenant_id}` route, before anything else (the body is not even read): a caller who
    does not reach this tenant gets 404 and learns nothing."""
    if not caller.reaches(tenant_id):
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")


Scoped = Depends(tenant_scope)


def require(caller: Principal, tenant_id: str, scope: str) -> None:
    """Every tenant route: the caller must reach this tenant (else 404, so it learns nothing) and hold the scope."""
    if not caller.reaches(tenant_id):
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")
    if not caller.may(scope):
        raise Problem(403, "missing_scope", f"this key lacks the scope {scope}")


def operator_only(caller: Principal) -> None:
    if caller.kind != "operator":
        raise Problem(403, "operator_only", "only an operator key may do this")


async def acting_admin(ctx: Context, caller: Principal, tenant_id: str, acting_as: str | None) -> str:
    """The person who acts in what only a tenant's admin may do: a session's member, or the member an operator
    or tenant key names in `Acting-As`. Refused with 403 `not_an_admin` unless an admin of this tenant."""
    person = caller.member if caller.kind == "session" else acting_as
    if not person:
        raise Problem(403, "not_an_admin", "name the tenant admin who acts, in the `Acting-As` header")
    tenant = await ctx.ops.tenant(tenant_id)
    if tenant is None:
        raise Problem(404, "not_found", f"no tenant {tenant_id!r}")
    if person.lower() not in {m.email.lower() for m in tenant.admins()}:
        raise Problem(403, "not_an_admin", f"{person} is not an admin of the tenant")
    return person
