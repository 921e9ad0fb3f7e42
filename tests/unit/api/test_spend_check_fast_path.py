"""The spend check's fast path answers what the route would answer, byte for byte in meaning, and only that: a
question it may not answer whole (unknown or uncached key, another tenant, a missing scope, a bad query, a
parameter twice) goes on to the route, which answers or refuses it as before."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from creditflow.spend import SpendView
from schemas.wallet import SpendState
from services.api.bootstrap import create_app
from services.api.config import ApiSettings
from services.api.context import KeyCache
from services.api.domain.keys import ApiKey, hash_secret

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Keys:
    """The API store's key lookup, in memory, counting its reads."""

    records: dict[str, ApiKey] = field(default_factory=dict)
    reads: int = 0

    async def key(self, key_id: str) -> ApiKey | None:
        self.reads += 1
        return self.records.get(key_id)


def key(kind: str, key_id: str, tenant: str | None = None, scopes: tuple[str, ...] = (), **extra: Any) -> ApiKey:
    return ApiKey(key_id, kind, hash_secret(f"secret{key_id}"), key_id, NOW, tenant, scopes, **extra)  # type: ignore[arg-type]


def bearer(record: ApiKey, secret: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer cf_{record.kind}_{record.key_id}_{secret or 'secret' + record.key_id}"}


OPERATOR = key("operator", "op1")
PRODUCER = key("tenant", "acme1", "acme", ("usage:write",))
READER = key("tenant", "acme2", "acme", ("wallet:read",))
STRANGER = key("tenant", "globex1", "globex", ("usage:write",))
REVOKED = key("tenant", "acme3", "acme", ("usage:write",), revoked_at=NOW)


@pytest.fixture
def api() -> tuple[httpx.AsyncClient, Keys, Any]:
    store = Keys({k.key_id: k for k in (OPERATOR, PRODUCER, READER, STRANGER, REVOKED)})
    spend = SpendView()
    spend.on_spend_state(SpendState(tenant_id="acme", can_spend=True, balance=Decimal("0.45"), as_of=NOW, version=3))
    app = create_app(ApiSettings())
    app.state.ctx = SimpleNamespace(keys=KeyCache(store), spend=spend)  # what the routes below reach (no lifespan)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    return client, store, app


def fast_answers(app: Any) -> float:
    """What the fast path counted (its counter, read from the app's /metrics registry)."""
    middleware = next(m for m in app.user_middleware if m.cls.__name__ == "SpendCheckFastPath")
    registry = middleware.kwargs["registry"]
    return sum(s.value for m in registry.collect() if m.name == "creditflow_api_spend_checks_fast" for s in m.samples
               if s.name.endswith("_total"))  # fmt: skip


QUESTIONS = [
    "meter=sms&quantity=3",  # 0.45: exactly the balance
    "meter=sms&quantity=4",  # one SMS too many
    "meter=sms",  # quantity 1 by default
    "meter=document&recipients=2",
    "meter=telegram",  # unknown meter: allowed false with its reason
    "meter=sms&quantity=1&colour=blue",  # unknown parameters are ignored, as by the route
]


@pytest.mark.parametrize("query", QUESTIONS)
@pytest.mark.parametrize("caller", [OPERATOR, PRODUCER])
async def test_the_fast_path_answers_what_the_route_answers(api, query: str, caller: ApiKey) -> None:
    client, store, app = api
    url = f"/v1/tenants/acme/spend-check?{query}"

    by_route = await client.get(url, headers=bearer(caller))  # the key is read from the store: the route answers
    assert fast_answers(app) == 0 and store.reads == 1
    by_fast_path = await client.get(url, headers=bearer(caller))  # the key is cached now: the fast path answers

    assert fast_answers(app) == 1 and store.reads == 1
    assert (by_fast_path.status_code, by_fast_path.headers["content-type"]) == (200, "application/json")
    assert by_fast_path.json() == by_route.json()
    assert by_route.status_code == 200


async def test_it_says_yes_while_the_balance_covers_the_cost_and_no_after_with_the_reason(api) -> None:
    client, _, app = api
    url = "/v1/tenants/acme/spend-check"
    await client.get(url, params={"meter": "sms"}, headers=bearer(PRODUCER))  # reads the key

    three = (await client.get(url, params={"meter": "sms", "quantity": "3"}, headers=bearer(PRODUCER))).json()
    four = (await client.get(url, params={"meter": "sms", "quantity": "4"}, headers=bearer(PRODUCER))).json()

    assert fast_answers(app) == 2
    assert (three["allowed"], three["cost"], three["balance"], three["as_of"]) == (
        True,
        "0.45",
        "0.45",
        NOW.isoformat(),
    )
    assert (four["allowed"], four["reason"], four["cost"]) == (False, "insufficient_credits", "0.6")


@pytest.mark.parametrize(
    ("caller", "url", "status", "code"),
    [
        (STRANGER, "/v1/tenants/acme/spend-check?meter=sms", 404, "not_found"),  # another tenant learns nothing
        (READER, "/v1/tenants/acme/spend-check?meter=sms", 403, "missing_scope"),
        (PRODUCER, "/v1/tenants/acme/spend-check?meter=SMS!", 422, "schema_violation"),
        (PRODUCER, "/v1/tenants/acme/spend-check?meter=sms&quantity=0", 422, "schema_violation"),
        (PRODUCER, "/v1/tenants/acme/spend-check?meter=sms&quantity=0.0000001", 422, "schema_violation"),
        (PRODUCER, "/v1/tenants/acme/spend-check?meter=sms&recipients=0", 422, "schema_violation"),
        (PRODUCER, "/v1/tenants/acme/spend-check", 422, "schema_violation"),
        (PRODUCER, "/v1/tenants/acme/spend-check?meter=sms&meter=document", 200, None),  # the route's rule: the last
    ],
)
async def test_what_the_fast_path_may_not_answer_goes_on_to_the_route(api, caller, url, status, code) -> None:
    client, _, app = api
    for _ in range(2):  # the second time the key is cached: still the route's answer
        answer = await client.get(url, headers=bearer(caller))
        assert answer.status_code == status, answer.text
        if code:
            assert answer.json()["code"] == code
    assert fast_answers(app) == 0


async def test_a_wrong_secret_or_a_revoked_key_is_refused_even_once_the_key_is_cached(api) -> None:
    client, _, app = api
    url = "/v1/tenants/acme/spend-check?meter=sms"
    assert (await client.get(url, headers=bearer(PRODUCER))).status_code == 200  # cached now

    wrong = await client.get(url, headers=bearer(PRODUCER, secret="guessed"))
    revoked = [await client.get(url, headers=bearer(REVOKED)) for _ in range(2)]
    nothing = await client.get(url)

    assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthorized")
    assert [r.status_code for r in revoked] == [401, 401]
    assert (nothing.status_code, nothing.json()["code"]) == (401, "unauthorized")
    assert fast_answers(app) == 0


async def test_only_the_spend_check_is_taken(api) -> None:
    client, _, app = api
    await client.get("/v1/tenants/acme/spend-check?meter=sms", headers=bearer(OPERATOR))
    for path in ("/v1/tenants/acme/x/spend-check?meter=sms", "/v1/tenants//spend-check?meter=sms",
                 "/v1/tenants/acme/spend-checks?meter=sms"):  # fmt: skip
        assert (await client.get(path, headers=bearer(OPERATOR))).status_code == 404
    assert (await client.post("/v1/tenants/acme/spend-check?meter=sms", headers=bearer(OPERATOR))).status_code == 405
    assert fast_answers(app) == 0
