"""What the CLI and the API show of a subscription: plain data only, one meaning of the last day, and receipts
that are records of what was issued."""

import json
from dataclasses import replace
from datetime import date
from typing import Any

from creditflow.views import plan_text, plan_view
from schemas import subscriptions as wire
from services.subscriptions.domain.catalogue import Seller
from services.subscriptions.domain.model import Account, AddOnState, AppUser, BillingInfo, Pending
from services.subscriptions.receipt import render_receipt
from tests.unit.subscriptions.test_rules import CATALOGUE, command, invoices, run, started


def assert_plain(value: Any) -> None:
    """JSON objects, arrays, strings, numbers, booleans and null, nothing else."""
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for item in value.values():
            assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain(item)
    else:
        assert value is None or isinstance(value, str | int | float | bool), repr(value)


def test_a_scheduled_add_on_change_is_data_not_python_text() -> None:
    account = started("team", "monthly", seats=3, on=date(2026, 11, 1))
    sub = account.subscription
    assert sub is not None
    sub = replace(
        sub,
        addons=(AddOnState("reunion-client", "beyond", 3),),
        pending=Pending(addons=(AddOnState("reunion-client", "beyond", 2),)),
    )

    view = plan_view(replace(account, subscription=sub), CATALOGUE)

    assert_plain(view)
    assert json.loads(json.dumps(view)) == view
    assert view["subscription"]["scheduled"] == {
        "addons": [{"addon": "reunion-client", "name": "Réunion Client", "plan": "beyond", "plan_name": "Beyond",
                    "seats": 2}]
    }  # fmt: skip


def test_the_period_is_shown_by_its_first_and_last_day_and_a_cancelled_one_by_its_last_day_of_access() -> None:
    account = started("team", "monthly", seats=1, on=date(2026, 11, 21))
    cancelled, _ = run(account, command(wire.Cancel), date(2026, 11, 25))

    active, ending = plan_view(account, CATALOGUE)["subscription"], plan_view(cancelled, CATALOGUE)["subscription"]

    assert active["current_period"] == {"first_day": "2026-11-21", "last_day": "2026-12-20"}
    assert (active["renews_on"], active["last_day_of_access"]) == ("2026-12-21", None)
    assert (ending["renews_on"], ending["last_day_of_access"]) == (None, "2026-12-20")
    assert "last day of access: 2026-12-20 (included)" in plan_text(plan_view(cancelled, CATALOGUE))


def test_apps_without_a_plan_are_shown_and_say_there_is_no_plan() -> None:
    account = Account("acme", apps=(("inspecteur", (AppUser("plemaire", "Philippe Lemaire"),)),))

    view = plan_view(account, CATALOGUE)

    assert view["subscription"] is None
    assert view["apps"] == [
        {
            "app": "inspecteur",
            "name": "App d'inspecteur",
            "users": [{"user_id": "plemaire", "name": "Philippe Lemaire"}],
        }
    ]
    assert plan_text(view)[1:] == [
        "plan: none (no subscription)",
        "app App d'inspecteur (inspecteur): Philippe Lemaire",
    ]


def test_a_receipt_downloaded_again_shows_what_was_issued_whatever_changed_since() -> None:
    issued_to = BillingInfo("Acme SA", "Rue Neuve 1", "1000", "Bruxelles", "BE", vat_number="BE0999999999")
    account = replace(Account("acme"), billing_info=issued_to)
    _, effects = run(account, command(wire.Start, plan="team"), date(2026, 1, 1))
    [invoice] = invoices(effects)
    invoice = replace(invoice, number="CF-2026-000001", status="paid")

    moved = BillingInfo("Other Corp", "Avenue Louise 5", "1050", "Ixelles", "BE")
    renamed_seller = Seller("creditflow NV", "BE", "BE0111111111", "CF", CATALOGUE.seller.vat_rate)
    html = render_receipt(invoice, renamed_seller, moved)

    for text in ("Acme SA", "Rue Neuve 1", "BE0999999999", "creditflow SA", "BE0123456789", "Reçu CF-2026-000001"):
        assert text in html
    for text in ("Other Corp", "Avenue Louise", "creditflow NV"):
        assert text not in html
