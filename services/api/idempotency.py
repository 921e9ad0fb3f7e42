"""`Idempotency-Key` as Stripe has it: the same key with the same request gives the same answer (replayed, with
`Idempotent-Replayed: true`); the same key with another request is a 409. The command a keyed request sends
gets an id derived from the key, so a retry after a crash in mid-request sends the same command again, which
the worker applies once."""

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from .context import Context
from .domain.keys import Principal
from .problems import Problem

NewId = Callable[[str], str]
Run = Callable[[NewId], Awaitable[tuple[int, Any]]]


Restore = Callable[[dict[str, Any]], dict[str, Any]]


async def once(
    request: Request,
    ctx: Context,
    caller: Principal,
    run: Run,
    *,
    unstored: str | None = None,
    restore: Restore | None = None,
) -> JSONResponse:
    """Run a POST once per Idempotency-Key. The answer's `unstored` field (a secret) is never stored: a replayed
    answer gets it back from `restore` (a webhook secret is derived again from what the answer names)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        status, body = await run(lambda prefix: f"{prefix}:{uuid.uuid4()}")
        return JSONResponse(body, status_code=status)
    if not 1 <= len(key) <= 255:
        raise Problem(400, "invalid_idempotency_key", "an Idempotency-Key has 1 to 255 characters")
    raw = await request.body()
    fingerprint = hashlib.sha256(b"|".join([request.method.encode(), request.url.path.encode(), raw])).hexdigest()
    scope = caller.key_id
    found = await ctx.store.claim(scope, key, fingerprint, datetime.now(UTC))
    if found is not None:
        if found["fingerprint"] != fingerprint:
            raise Problem(409, "idempotency_key_reused", "this Idempotency-Key was used with another request")
        if found["response"] is not None:
            stored = found["response"]
            body = restore(stored["body"]) if restore is not None else stored["body"]
            return JSONResponse(body, status_code=stored["status"], headers={"Idempotent-Replayed": "true"})
    seed = hashlib.sha256(f"{scope}|{key}".encode()).hexdigest()[:32]
    try:
        status, body = await run(lambda prefix: f"{prefix}:idem-{seed}")
    except Problem:
        await ctx.store.release(scope, key)
        raise
    kept = {k: v for k, v in body.items() if k != unstored} if unstored and isinstance(body, dict) else body
    await ctx.store.complete(scope, key, status, kept)
    return JSONResponse(body, status_code=status)
