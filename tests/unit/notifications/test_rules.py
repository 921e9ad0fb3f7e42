from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from schemas.tenants import Member, TenantUpserted
from services.notifications.domain.model import Delivery, Notice, Recipient, RetryPolicy
from services.notifications.domain.rules import deliveries, notice_for
from services.notifications.templates import credits, render

AT = datetime(2026, 11, 22, tzinfo=UTC)
TENANT = TenantUpserted(
    tenant_id="acme",
    revision=1,
    name="Acme",
    language="fr",
    updated_at=AT,
    members=(
        Member(email="admin@acme.example", role="admin"),
        Member(email="boss@acme.example", role="admin", language="en"),
        Member(email="member@acme.example", role="member"),
    ),
)


def crossed(threshold: str, balance: str) -> dict[str, str]:
    return {
        "kind": "threshold.crossed",
        "event_id": "e1",
        "tenant_id": "acme",
        "threshold": threshold,
        "balance": balance,
    }


def test_a_low_balance_crossing_is_sent_to_every_admin_and_to_no_one_else() -> None:
    notice = notice_for(crossed("100", "99.85"), "Acme")
    assert notice is not None

    sent_to = [(d.recipient.email, d.recipient.language) for d in deliveries(notice, TENANT)]

    assert sent_to == [("admin@acme.example", "fr"), ("boss@acme.example", "en")]


def test_each_delivery_is_keyed_by_event_and_recipient() -> None:
    notice = notice_for(crossed("100", "99.85"), "Acme")
    assert notice is not None

    assert [d.delivery_id for d in deliveries(notice, TENANT)] == [
        "acme|e1|admin@acme.example",
        "acme|e1|boss@acme.example",
    ]


def test_a_notice_is_never_sent_to_another_tenants_admins() -> None:
    notice = notice_for({**crossed("100", "99"), "tenant_id": "other"}, "Other")
    assert notice is not None

    with pytest.raises(ValueError, match="own tenant"):
        deliveries(notice, TENANT)


def test_reaching_zero_is_the_depleted_notice_and_ledger_entries_are_not_mailed() -> None:
    depleted = notice_for(crossed("0", "0"), "Acme")

    assert depleted is not None and depleted.template == "depleted"
    assert notice_for({"kind": "entry.recorded", "event_id": "x", "tenant_id": "acme"}, "Acme") is None


@pytest.mark.parametrize(
    ("amount", "language", "text"),
    [
        (Decimal("95.5"), "fr", "95,50"),
        (Decimal("95.5"), "en", "95.50"),
        (Decimal("1234.5"), "fr", "1\u202f234,50"),
        (Decimal("0.000125"), "en", "0.000125"),
    ],
)
def test_figures_are_formatted_for_the_readers_language(amount: Decimal, language: str, text: str) -> None:
    assert credits(amount, language) == text


def test_the_french_and_english_low_balance_texts() -> None:
    notice = Notice(
        event_id="e1",
        tenant_id="acme",
        tenant_name="Acme",
        template="low_balance",
        balance=Decimal("95.5"),
        threshold=Decimal(100),
    )

    fr = render(Delivery("d", notice, Recipient("a@acme.example", "fr")))
    en = render(Delivery("d", notice, Recipient("b@acme.example", "en")))

    assert fr.subject == "Crédits faibles : il reste 95,50 crédits à Acme"
    assert "moins de 100,00 crédits" in fr.text
    assert en.subject == "Low credits: Acme has 95.50 credits left"
    assert "<p>" in en.html and "95.50" in en.html


def test_retries_back_off_exponentially_and_give_up_after_the_window() -> None:
    policy = RetryPolicy(first=timedelta(seconds=2), ceiling=timedelta(minutes=30), give_up=timedelta(hours=12))

    delays = [policy.next_attempt(n, AT, AT) for n in (1, 2, 3, 20)]

    assert [d - AT for d in delays if d] == [
        timedelta(seconds=2),
        timedelta(seconds=4),
        timedelta(seconds=8),
        timedelta(minutes=30),
    ]
    assert policy.next_attempt(5, AT, AT + timedelta(hours=12)) is None
