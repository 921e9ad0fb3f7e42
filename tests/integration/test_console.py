"""The console in a real browser: Debian's Chromium driven by Playwright, against the real stack, entered the
only way there is, through a portal link. Screenshots of each page go to `<state-dir>/screenshots`."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditflow.supervisor import Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ADMIN = "admin@acme.example"
MEMBER = "member@acme.example"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium (.ci/run does it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def operator(ops, workers: Supervisor) -> AsyncIterator[httpx.AsyncClient]:
    _, key = await ops.create_api_key("operator", name="console tests")
    async with httpx.AsyncClient(base_url=str(workers.api_url), headers={"Authorization": f"Bearer {key}"},
                                 timeout=60) as client:  # fmt: skip
        yield client


async def tenant(operator: httpx.AsyncClient, tenant_id: str, language: str) -> None:
    members = [{"email": ADMIN, "role": "admin", "name": "Jean-Luc Lemaire"}, {"email": MEMBER, "role": "member"}]
    body = {"tenant_id": tenant_id, "name": "Insypro", "language": language, "members": members}
    assert (await operator.post("/v1/tenants", json=body)).status_code == 201


async def enter(browser: Any, operator: httpx.AsyncClient, tenant_id: str, member: str, width: int = 1200) -> Any:
    link = (await operator.post("/v1/portal-sessions", json={"tenant_id": tenant_id, "member": member})).json()
    page = await browser.new_page(viewport={"width": width, "height": 900})
    await page.goto(link["url"])
    return page


async def shot(page: Any, stack: Any, name: str) -> None:
    folder = Path(stack.settings.state_dir) / "screenshots"
    folder.mkdir(exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_an_admin_tops_up_and_sees_the_balance_and_the_new_ledger_line(
    browser, operator, stack, tenant_id
) -> None:
    await tenant(operator, tenant_id, "fr")
    page = await enter(browser, operator, tenant_id, ADMIN)

    assert await page.get_by_role("heading", name="Crédits", exact=True).is_visible(), await page.content()
    assert await page.get_by_text("1 crédit coûte 1,00 €.").is_visible()
    await page.get_by_label("Crédits", exact=True).fill("279.50")
    await page.get_by_role("button", name="Recharger les crédits").click()

    await page.get_by_role("status").wait_for()
    assert await page.get_by_test_id("balance").inner_text() == "279,50"
    assert await page.get_by_test_id("items").inner_text() == "1 élément"
    row = page.get_by_role("row").filter(has_text="Achat de 279,5 crédits")
    assert await row.count() == 1 and "279,50" in await row.inner_text()
    await shot(page, stack, "credits-fr")

    # the same page in English, and at a phone's width
    await page.goto(f"{page.url.split('?')[0]}?lang=en")
    assert await page.get_by_role("heading", name="Credits", exact=True).is_visible()
    assert await page.get_by_text("1 credit costs €1.00.").is_visible()
    assert await page.get_by_test_id("balance").inner_text() == "279.50"
    await shot(page, stack, "credits-en")
    await page.set_viewport_size({"width": 375, "height": 800})
    assert await page.get_by_role("button", name="Top up credits").is_visible()
    await shot(page, stack, "credits-375")
    await page.close()


async def test_a_member_cannot_buy_and_sees_who_can(browser, operator, stack, tenant_id) -> None:
    await tenant(operator, tenant_id, "fr")
    page = await enter(browser, operator, tenant_id, MEMBER)

    assert await page.get_by_role("button", name="Recharger les crédits").count() == 0
    assert await page.get_by_text(f"Seuls les administrateurs peuvent acheter des crédits : {ADMIN}.").is_visible()
    # a forged form post from the member's session is refused too
    base = page.url.split("/console/")[0]
    session = await (await page.request.get(f"{base}/v1/session")).json()
    answer = await page.request.post(f"{base}/console/{tenant_id}/credits/top-up",
                                     form={"credits": "10", "csrf_token": session["csrf_token"]})  # fmt: skip
    assert "Refus" in await answer.text()
    assert (await (await page.request.get(f"{base}/v1/tenants/{tenant_id}/wallet")).json())["balance"] == "0"
    await shot(page, stack, "credits-member")
    await page.close()


async def test_no_page_shows_another_tenants_data_with_a_tampered_url_or_cookie(browser, operator, tenant_id) -> None:
    other = f"{tenant_id}-x"
    await tenant(operator, tenant_id, "fr")
    await tenant(operator, other, "en")
    page = await enter(browser, operator, tenant_id, ADMIN)

    base = page.url.split("/console/")[0]
    tampered = await page.goto(f"{base}/console/{other}/credits")
    assert tampered is not None and tampered.status == 404
    await page.context.clear_cookies()
    await page.context.add_cookies([{"name": "cf_session", "value": "forged", "url": page.url}])
    forged = await page.goto(f"{base}/console/{tenant_id}/credits")
    assert forged is not None and forged.status == 401
    await page.close()


async def start_plan(operator: httpx.AsyncClient, tenant_id: str, days_ago: int) -> None:
    from datetime import UTC, datetime, timedelta

    admin = {"Acting-As": ADMIN}
    info = {"company_name": "Insypro SA", "address_line1": "Rue Neuve 1", "postal_code": "1000", "city": "Bruxelles",
            "country": "BE", "vat_number": "BE0999999999"}  # fmt: skip
    for path, body in (("billing-info", info),
                       ("subscription/start", {"plan": "team", "seats": 2, "start_on": (
                           datetime.now(UTC) - timedelta(days=days_ago)).date().isoformat()})):  # fmt: skip
        answer = await operator.post(f"/v1/tenants/{tenant_id}/{path}", json=body, headers=admin)
        status = await operator.get(f"/v1/commands/{answer.json()['command_id']}", params={"wait": 20})
        assert status.json()["status"] == "applied", status.text


async def test_seats_then_an_upgrade_shows_the_prorated_amount_and_invoices_it_then_the_receipt_downloads(
    browser, operator, stack, tenant_id
) -> None:
    await tenant(operator, tenant_id, "fr")
    await start_plan(operator, tenant_id, days_ago=0)
    page = await enter(browser, operator, tenant_id, ADMIN)
    await page.get_by_role("link", name="Abonnement").click()

    # one user more, at once
    await page.get_by_role("button", name="Un utilisateur de plus").click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_test_id("seats").inner_text() == "3"
    # the upgrade: the prorated amount first, then confirmed
    await page.locator("#plan-choice").select_option("business")
    await page.get_by_role("button", name="Voir le montant").click()
    preview = await page.get_by_test_id("preview").inner_text()
    assert preview.startswith("Montant au prorata pour le reste de la période :") and "€" in preview
    await shot(page, stack, "subscription-fr")
    await page.get_by_role("button", name="Confirmer et payer").click()
    await page.get_by_role("status").wait_for()
    assert "Business" in await page.get_by_role("heading", level=2).first.inner_text()

    # the payment history has the three invoices; the receipt of the first downloads as a PDF with the payer
    await page.get_by_role("link", name="Facturation").click()
    await page.wait_for_url(f"**/console/{tenant_id}/billing**")
    billing = page.url

    async def listed() -> bool:  # the upgrade's invoice is written by the subscriptions worker, maybe after the page
        await page.goto(billing)
        return await page.get_by_role("row").count() == 4  # a header and three invoices

    from tests.conftest import eventually

    await eventually(listed, timeout=30, interval=1)
    await shot(page, stack, "billing-fr")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Reçu (PDF)").last.click()
    path = await (await download.value).path()
    from tests.integration.test_api import pdf_text

    text = pdf_text(Path(path).read_bytes())
    assert "Insypro SA" in text and "36,30" in text  # 2 users x 15.00 + 21 % VAT
    await page.get_by_role("link", name="Notifications").click()
    await shot(page, stack, "notifications-fr")
    await page.close()


async def test_a_change_within_15_days_shows_the_rule_and_the_date_and_a_cancel_shows_the_last_day(
    browser, operator, stack, tenant_id
) -> None:
    await tenant(operator, tenant_id, "en")
    await start_plan(operator, tenant_id, days_ago=20)
    page = await enter(browser, operator, tenant_id, ADMIN)
    await page.goto(page.url.replace("/credits", "/subscription"))
    renews = (await page.get_by_test_id("next-invoice").inner_text()).splitlines()[0]  # "Renews on 11 December 2026"

    await page.locator("#plan-choice").select_option("business")
    await page.get_by_role("button", name="Review the amount").click()
    refused = await page.get_by_test_id("preview").inner_text()
    assert renews.startswith("Renews on ")
    day = renews.removeprefix("Renews on ")
    assert refused == (
        f"Refused: Changes (other than adding users) must be made at least 15 days before the renewal, on {day}."
    )
    await shot(page, stack, "subscription-en-refused")
    await page.goto(page.url.split("?")[0])
    # cancelling is a change too: within 15 days it is refused with the same rule
    await page.get_by_role("button", name="Cancel the subscription").click()
    await page.get_by_role("status").wait_for()
    assert "15 days" in await page.get_by_role("status").inner_text()
    await page.close()


async def test_a_cancel_shows_the_last_day_of_access(browser, operator, stack, tenant_id) -> None:
    await tenant(operator, tenant_id, "fr")
    await start_plan(operator, tenant_id, days_ago=0)
    page = await enter(browser, operator, tenant_id, ADMIN)
    await page.goto(page.url.replace("/credits", "/subscription"))
    note = await page.get_by_text("Votre accès se terminera le dernier jour de votre licence").inner_text()

    await page.get_by_role("button", name="Se désabonner").click()

    await page.get_by_role("status").wait_for()
    status = await page.get_by_role("status").inner_text()
    assert status.startswith("Abonnement résilié : accès jusqu'au ") and status.split("jusqu'au ")[1][:6] in note
    assert await page.get_by_test_id("last-day").is_visible()
    assert await page.get_by_role("button", name="Réactiver").is_visible()
    await shot(page, stack, "subscription-fr-cancelled")
    await page.close()


async def test_usage_shows_the_period_per_meter_with_a_chart_per_day(browser, operator, stack, tenant_id) -> None:
    from datetime import UTC, datetime

    await tenant(operator, tenant_id, "en")
    await operator.post(f"/v1/tenants/{tenant_id}/wallet/grants", json={"credits": "50", "kind": "purchased"})
    now = datetime.now(UTC).isoformat()
    events = [{"event_id": f"u-{n}", "tenant_id": tenant_id, "type": kind, "quantity": 1, "occurred_at": now,
               **({"properties": {"recipients": 2}} if kind == "document" else {})}
              for n, kind in enumerate(["sms", "sms", "sms", "document"])]  # fmt: skip
    assert (await operator.post(f"/v1/tenants/{tenant_id}/usage-events", json=events)).json()["accepted"] == 4
    page = await enter(browser, operator, tenant_id, ADMIN)

    async def shown() -> bool:
        await page.goto(page.url.split("/console/")[0] + f"/console/{tenant_id}/usage")
        return await page.get_by_role("row").count() == 3  # a header, sms and document

    from tests.conftest import eventually

    await eventually(shown, timeout=30, interval=1)
    chart = page.get_by_test_id("chart").get_by_role("img")
    assert await chart.get_attribute("aria-label") == "Credits spent per day"
    legend = await page.get_by_test_id("chart").inner_text()
    assert "SMS — 0.45 credits" in legend and "Document sent — 2.00 credits" in legend
    await shot(page, stack, "usage-en")
    await page.close()


async def test_an_expired_or_prepaid_card_is_refused_with_a_clear_message(browser, operator, tenant_id) -> None:
    await tenant(operator, tenant_id, "fr")
    await start_plan(operator, tenant_id, days_ago=0)
    page = await enter(browser, operator, tenant_id, ADMIN)
    await page.goto(page.url.replace("/credits", "/subscription"))

    await page.locator("#pm-card").fill("Visa 4242 01/2020")
    await page.get_by_role("button", name="Enregistrer").last.click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("status").inner_text() == (
        "Refusé : cette carte a expiré (01/2020) ; une carte expirée n'est pas acceptée."
    )
    await page.locator("#pm-card").fill("Visa 4242 12/2030")
    await page.locator("#pm-funding").select_option("prepaid")
    await page.get_by_role("button", name="Enregistrer").last.click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("status").inner_text() == "Refusé : une carte prépayée n'est pas acceptée."
    await page.close()


async def test_an_admin_sets_automatic_recharge_and_alerts_and_the_top_up_is_reachable_by_keyboard(
    browser, operator, tenant_id
) -> None:
    await tenant(operator, tenant_id, "en")
    page = await enter(browser, operator, tenant_id, ADMIN)

    await page.locator("#ar-on").select_option("on")
    await page.locator("#th").fill("100 20 0")
    await page.get_by_role("button", name="Save").click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("status").inner_text() == "Done."
    text = await page.locator("main").inner_text()
    assert "Below 10.00 credits, buy 50.00 credits (at most 200.00 a month)." in text
    assert "E-mail alerts to admins below: 100.00, 20.00, 0.00" in text

    # keyboard only: focus the amount, type, Tab to the button, Enter
    await page.locator("#credits").focus()
    await page.keyboard.press("Control+A")
    await page.keyboard.type("12")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Top up credits"
    await page.keyboard.press("Enter")
    await page.get_by_role("status").wait_for()

    async def credited() -> bool:  # 12 bought, and the 50 the recharge bought when the balance was 0 < 10
        await page.reload()
        return await page.get_by_test_id("balance").inner_text() == "62.00"

    from tests.conftest import eventually

    await eventually(credited, timeout=30, interval=0.5)
    await page.close()


async def test_an_admin_adds_the_reunion_client_add_on_with_its_users(browser, operator, tenant_id) -> None:
    await tenant(operator, tenant_id, "fr")
    await start_plan(operator, tenant_id, days_ago=0)
    page = await enter(browser, operator, tenant_id, ADMIN)
    await page.goto(page.url.replace("/credits", "/subscription"))

    await page.locator("#addon-plan").select_option("beyond")
    await page.locator("#addon-seats").fill("2")
    await page.get_by_role("button", name="Appliquer").click()

    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("status").inner_text() == "C'est fait."
    assert await page.locator("#addon-plan").input_value() == "beyond"
    assert await page.locator("#addon-seats").input_value() == "2"
    await page.close()
