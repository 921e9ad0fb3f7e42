"""The HTTP API on the real stack: served by uvicorn as a worker process, called with httpx as a vendor's backend,
a producer app and the console would."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from creditflow.supervisor import Supervisor
from schemas import topics
from tests.conftest import eventually
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration
ADMIN = "admin@acme.example"
MEMBER = "member@acme.example"


@pytest.fixture
async def operator(ops, workers: Supervisor) -> AsyncIterator[httpx.AsyncClient]:
    _, key = await ops.create_api_key("operator", name="tests")
    async with httpx.AsyncClient(
        base_url=str(workers.api_url), headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


async def new_tenant(client: httpx.AsyncClient, tenant_id: str, language: str = "fr") -> None:
    body = {"tenant_id": tenant_id, "name": f"Acme {tenant_id}", "language": language,
            "members": [{"email": ADMIN, "role": "admin"}, {"email": MEMBER, "role": "member"}]}  # fmt: skip
    answer = await client.post("/v1/tenants", json=body)
    assert answer.status_code == 201, answer.text


async def outcome(client: httpx.AsyncClient, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    command_id = answer.json()["command_id"]
    status = await client.get(f"/v1/commands/{command_id}", params={"wait": 20})
    assert status.status_code == 200, status.text
    return dict(status.json())


def event(tenant_id: str, n: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{n}-{tenant_id}", "tenant_id": tenant_id, "type": "sms", "quantity": 1,
            "occurred_at": datetime.now(UTC).isoformat(), "site": "Insypro", "personnel": "Jean-Luc Lemaire",
            **fields}  # fmt: skip


async def test_an_admin_tops_up_and_a_member_is_refused(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)

    # the admin buys 300 credits: 202 at once, then the outcome, the balance and the ledger line
    bought = await outcome(
        operator, await operator.post(f"/v1/tenants/{tenant_id}/wallet/top-ups", json={"credits": "300"},
                                      headers={"Acting-As": ADMIN})
    )  # fmt: skip
    assert bought["status"] == "applied", bought
    wallet = (await operator.get(f"/v1/tenants/{tenant_id}/wallet")).json()
    assert wallet["balance"] == "300"
    [line] = (await operator.get(f"/v1/tenants/{tenant_id}/wallet/ledger")).json()["data"]
    assert (line["description"], line["value"], line["personnel"]) == ("Achat de 300 crédits", "300", ADMIN)

    # a member may not buy: 403 with the events' reason code, and nothing is sent
    refused = await operator.post(f"/v1/tenants/{tenant_id}/wallet/top-ups", json={"credits": "5"},
                                  headers={"Acting-As": MEMBER})  # fmt: skip
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "not_an_admin"


async def test_a_usage_batch_answers_each_event_and_metering_still_resolves_duplicates(
    operator, stack, tenant_id
) -> None:
    await new_tenant(operator, tenant_id)
    await operator.post(f"/v1/tenants/{tenant_id}/wallet/grants", json={"credits": "10", "kind": "purchased"})
    first = event(tenant_id, "e1")
    batch = [first, first, event(tenant_id, "e2", quantity=2), {"event_id": "bad", "tenant_id": tenant_id},
             event("someone-else", "e3")]  # fmt: skip

    answer = await operator.post(f"/v1/tenants/{tenant_id}/usage-events", json=batch)

    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [(r["status"], r["reason"]) for r in results] == [
        ("accepted", None),
        ("accepted", None),
        ("accepted", None),
        ("rejected", "schema_violation"),
        ("rejected", "tenant_mismatch"),
    ]

    async def charged() -> Any:
        rows = (await operator.get(f"/v1/tenants/{tenant_id}/wallet/ledger", params={"type": "sms"})).json()["data"]
        return rows if len(rows) == 2 else None

    rows = await eventually(charged, timeout=30)
    assert sorted(r["value"] for r in rows) == ["-0.15", "-0.3"]  # e1 once, e2 for two SMS
    letters = await read_topic(stack.settings, topics.USAGE_DLQ, tenant_id, expect=2, timeout=10)
    assert sorted(letter["reason"] for letter in letters if letter["service"] == "api") == [
        "schema_violation",
        "tenant_mismatch",
    ]
    csv = await operator.get(f"/v1/tenants/{tenant_id}/wallet/ledger", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("datetime,site,personnel,description,type,value")


async def test_a_plan_change_within_15_days_is_refused_with_its_code(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)
    admin = {"Acting-As": ADMIN}
    base = f"/v1/tenants/{tenant_id}/subscription"
    # a monthly plan that started 20 days ago (a subscription moved over from another system): it renews in
    # 8 to 11 days, so an upgrade is refused by the 15-day rule, with its code and the renewal date
    start_on = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
    started = await outcome(
        operator,
        await operator.post(f"{base}/start", headers=admin, json={"plan": "team", "seats": 2, "start_on": start_on}),
    )
    assert started["status"] == "applied", started
    plan = (await operator.get(base)).json()["subscription"]
    assert plan["next_invoice"]["amount_before_vat_eur"] == "30.00"

    refused = await outcome(operator, await operator.post(f"{base}/plan", json={"plan": "business"}, headers=admin))

    assert (refused["status"], refused["reason"]) == ("refused", "within_15_days_of_renewal")
    assert plan["renews_on"] in refused["detail"]
    more_users = await outcome(operator, await operator.post(f"{base}/seats", json={"seats": 3}, headers=admin))
    assert more_users["status"] == "applied"  # adding users: any day


async def test_an_idempotency_key_replays_the_same_answer_and_refuses_another_body(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)
    url = f"/v1/tenants/{tenant_id}/wallet/grants"
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}

    first = await operator.post(url, json={"credits": "5", "kind": "purchased"}, headers=key)
    again = await operator.post(url, json={"credits": "5", "kind": "purchased"}, headers=key)
    other = await operator.post(url, json={"credits": "6", "kind": "purchased"}, headers=key)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    await outcome(operator, first)
    assert (await operator.get(f"/v1/tenants/{tenant_id}/wallet")).json()["balance"] == "5"


async def test_the_spend_check_turns_false_when_the_balance_is_gone(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)
    url = f"/v1/tenants/{tenant_id}/spend-check"
    await outcome(operator, await operator.post(f"/v1/tenants/{tenant_id}/wallet/grants",
                                                json={"credits": "0.30", "kind": "purchased"}))  # fmt: skip

    async def allowed(quantity: int, expected: bool) -> Any:
        answer = (await operator.get(url, params={"meter": "sms", "quantity": quantity})).json()
        return answer if answer["allowed"] is expected else None

    yes = await eventually(lambda: allowed(2, True), timeout=10)  # two SMS at 0.15: exactly what is left
    assert (yes["cost"], yes["balance"]) == ("0.3", "0.3")
    await operator.post(f"/v1/tenants/{tenant_id}/usage-events", json=[event(tenant_id, "a"), event(tenant_id, "b")])
    no = await eventually(lambda: allowed(1, False), timeout=30)
    assert (no["reason"], no["balance"]) == ("insufficient_credits", "0")
    unknown = (await operator.get(url, params={"meter": "telegram"})).json()
    assert (unknown["allowed"], unknown["reason"]) == (False, "unknown_meter")


async def test_receipts_download_as_html_and_pdf(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)
    admin = {"Acting-As": ADMIN}
    info = {"company_name": "Acme SA", "address_line1": "Rue Neuve 1", "postal_code": "1000", "city": "Bruxelles",
            "country": "BE", "vat_number": "BE0999999999"}  # fmt: skip
    await outcome(operator, await operator.post(f"/v1/tenants/{tenant_id}/billing-info", json=info, headers=admin))
    await outcome(operator, await operator.post(f"/v1/tenants/{tenant_id}/subscription/start",
                                                json={"plan": "team", "seats": 3}, headers=admin))  # fmt: skip

    async def paid() -> Any:
        rows = (await operator.get(f"/v1/tenants/{tenant_id}/invoices")).json()["data"]
        return rows if rows and rows[0]["status"] == "paid" else None

    [invoice] = await eventually(paid, timeout=30)
    html = await operator.get(f"/v1/tenants/{tenant_id}/invoices/{invoice['number']}/receipt.html")
    assert "Acme SA" in html.text and "54,45" in html.text  # 3 x 15.00 + 21 % VAT
    pdf = await operator.get(f"/v1/tenants/{tenant_id}/invoices/{invoice['number']}/receipt.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "Acme SA" in pdf_text(pdf.content) and "54,45" in pdf_text(pdf.content)


def pdf_text(content: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


# --- tenant isolation: every route, with another tenant's key and session ------------------------------------


async def test_every_route_refuses_another_tenants_key(ops, operator, workers: Supervisor, tenant_id) -> None:
    from services.api.bootstrap import create_app
    from services.api.config import ApiSettings

    await new_tenant(operator, tenant_id)
    other = f"{tenant_id}-other"
    await new_tenant(operator, other)
    _, other_key = await ops.create_api_key("tenant", name="other", tenant_id=other,
                                            scopes=("wallet:read", "wallet:write", "usage:write", "usage:read",
                                                    "subscriptions:read", "subscriptions:write",
                                                    "notifications:read"))  # fmt: skip
    paths = create_app(ApiSettings()).openapi()["paths"]
    routes = [(method.upper(), path) for path, item in paths.items() if path.startswith("/v1/tenants/{tenant_id}")
              for method in item]  # fmt: skip
    assert len(routes) >= 25
    async with httpx.AsyncClient(
        base_url=str(workers.api_url), timeout=30, headers={"Authorization": f"Bearer {other_key}", "Acting-As": ADMIN}
    ) as stranger:
        for method, template in routes:
            path = template.replace("{tenant_id}", tenant_id).replace("{number}", "CF-2026-000001")
            answer = await stranger.request(method, path, json={})
            assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
            assert answer.json()["code"] == "not_found", answer.text
    # a portal session of the other tenant's admin, with its CSRF token: the same 404 everywhere
    link = (await operator.post("/v1/portal-sessions", json={"tenant_id": other, "member": ADMIN})).json()["url"]
    async with httpx.AsyncClient(base_url=str(workers.api_url), timeout=30) as browser:
        await browser.get(link)
        token = (await browser.get("/v1/session")).json()["csrf_token"]
        for method, template in routes:
            path = template.replace("{tenant_id}", tenant_id).replace("{number}", "CF-2026-000001")
            answer = await browser.request(method, path, json={}, headers={"X-CSRF-Token": token})
            assert answer.status_code == 404, (method, path, answer.status_code, answer.text)
    # and the same key reaches its own tenant
    async with httpx.AsyncClient(base_url=str(workers.api_url),
                                 headers={"Authorization": f"Bearer {other_key}"}) as own:  # fmt: skip
        assert (await own.get(f"/v1/tenants/{other}/wallet")).status_code == 200


async def test_bad_input_is_a_problem_document_never_a_500(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)
    url = f"/v1/tenants/{tenant_id}/wallet/grants"

    for body in (b"{", b"[]", b'{"credits": "1.1234567"}', b'{"credits": "abc"}', b'{"credits": 1e999}'):
        answer = await operator.post(url, content=body, headers={"content-type": "application/json"})
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
        assert answer.json()["code"], answer.text
    huge = await operator.post(f"/v1/tenants/{tenant_id}/usage-events", content=b"[" + b" " * (18 * 1024 * 1024) + b"]")
    assert (huge.status_code, huge.json()["code"]) == (413, "oversize")
    unauthenticated = await httpx.AsyncClient(base_url=str(operator.base_url)).get(f"/v1/tenants/{tenant_id}/wallet")
    assert (unauthenticated.status_code, unauthenticated.json()["code"]) == (401, "unauthorized")


async def test_a_portal_link_becomes_a_cookie_session_once_and_state_changes_need_its_csrf_token(
    operator, workers: Supervisor, tenant_id
) -> None:
    await new_tenant(operator, tenant_id)
    other = f"{tenant_id}-b"
    await new_tenant(operator, other)

    async def session_for(member: str) -> httpx.AsyncClient:
        link = await operator.post("/v1/portal-sessions", json={"tenant_id": tenant_id, "member": member})
        assert link.status_code == 201, link.text
        browser = httpx.AsyncClient(base_url=str(workers.api_url), timeout=30)
        entered = await browser.get(link.json()["url"])
        assert entered.status_code == 303 and entered.headers["location"] == f"/console/{tenant_id}"
        cookie = entered.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        again = await httpx.AsyncClient(base_url=str(workers.api_url)).get(link.json()["url"])
        assert (again.status_code, again.json()["code"]) == (403, "link_expired")  # one time only
        return browser

    admin = await session_for(ADMIN)
    me = (await admin.get("/v1/session")).json()
    assert (me["member"], me["role"]) == (ADMIN, "admin")
    url = f"/v1/tenants/{tenant_id}/wallet/top-ups"
    no_token = await admin.post(url, json={"credits": "10"})
    assert (no_token.status_code, no_token.json()["code"]) == (403, "csrf_failed")
    bought = await outcome(admin, await admin.post(url, json={"credits": "10"},
                                                   headers={"X-CSRF-Token": me["csrf_token"]}))  # fmt: skip
    assert bought["status"] == "applied"
    assert (await admin.get(f"/v1/tenants/{other}/wallet")).status_code == 404  # another tenant: nothing

    member = await session_for(MEMBER)
    token = (await member.get("/v1/session")).json()["csrf_token"]
    refused = await member.post(url, json={"credits": "10"}, headers={"X-CSRF-Token": token})
    assert (refused.status_code, refused.json()["code"]) == (403, "not_an_admin")
    assert (await member.get(f"/v1/tenants/{tenant_id}/wallet")).json()["balance"] == "10"  # members may read

    tampered = httpx.AsyncClient(base_url=str(workers.api_url), cookies={"cf_session": "forged"})
    assert (await tampered.get(f"/v1/tenants/{tenant_id}/wallet")).status_code == 401
    for client in (admin, member, tampered):
        await client.aclose()


async def test_metrics_count_requests_by_route_template_never_by_tenant(operator, tenant_id) -> None:
    await new_tenant(operator, tenant_id)
    await operator.get(f"/v1/tenants/{tenant_id}/wallet")

    text = (await operator.get("/metrics")).text

    assert 'handler="/v1/tenants/{tenant_id}/wallet"' in text
    assert "http_request_duration_seconds_bucket" in text
    assert tenant_id not in text, "no tenant's id in a label"
