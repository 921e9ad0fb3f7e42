"""The spend check, answered from memory: one definition of its query and of its answer, served by the FastAPI
route (`routes/wallet.py`, which documents it in the OpenAPI document) and by the fast path below.

The fast path is an ASGI layer in front of the application. It answers only the check it can answer whole
without the framework: a `GET /v1/tenants/{tenant_id}/spend-check` whose API key record is in the key cache
(read less than `KEY_CACHE_SECONDS` ago), whose key reaches the tenant with the `usage:write` scope, and whose
query is valid by `SpendCheckQuery`. Anything else (no key or a session cookie, a key to be read from the store,
another tenant, a missing scope, a bad query) goes on to the application, which answers it (or refuses it) as
every route does. So the fast path cannot answer what the route would refuse: it answers the same body, by the
same functions, minus the framework's per-request cost (dependency resolution, validation of each parameter,
response encoding, the per-route metrics middleware). It counts what it answers in
`creditflow_api_spend_checks_fast_total{allowed}`."""

import json
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from creditflow.spend import SpendView

from .context import Context
from .domain.keys import key_principal, parse_key

PREFIX, SUFFIX = "/v1/tenants/", "/spend-check"
SCOPE = "usage:write"


class SpendCheckQuery(BaseModel):
    meter: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]
    quantity: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)] = Decimal(1)
    recipients: Annotated[int | None, Field(ge=1, le=1_000_000)] = None


def spend_answer(spend: SpendView, tenant_id: str, query: SpendCheckQuery) -> dict[str, Any]:
    properties = {"recipients": query.recipients} if query.recipients is not None else {}
    return {
        "tenant_id": tenant_id,
        "meter": query.meter,
        "quantity": str(query.quantity),
        **spend.check(tenant_id, query.meter, query.quantity, properties),
    }


class SpendCheckFastPath:
    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.answered = Counter(
            "creditflow_api_spend_checks_fast",
            "Spend checks answered by the fast path, by outcome (the others are in the per-route metrics)",
            ["allowed"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        tenant_id = path[len(PREFIX) : -len(SUFFIX)]
        ctx: Context | None = getattr(scope["app"].state, "ctx", None) if "app" in scope else None
        if not tenant_id or "/" in tenant_id or ctx is None:
            return None
        caller = None
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                parsed = parse_key(value[7:].decode("latin-1").strip())
                caller = key_principal(ctx.keys.cached(parsed[0]), parsed[1]) if parsed else None
                break
        if caller is None or not caller.reaches(tenant_id) or not caller.may(SCOPE):
            return None
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        fields = dict(pairs)
        if len(fields) != len(pairs):  # a parameter given twice: the route's rules decide
            return None
        try:
            query = SpendCheckQuery.model_validate(fields)
        except ValidationError:
            return None
        answer = spend_answer(ctx.spend, tenant_id, query)
        self.answered.labels(allowed="true" if answer["allowed"] else "false").inc()
        return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
