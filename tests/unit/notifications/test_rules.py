from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from schemas.tenants import Member, TenantUpserted
from services.notifications.domain.model import Delivery, Fact, Notice, RateLimit, Recipient, RetryPolicy
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
        facts=(Fact("balance", "credits", "95.5"), Fact("threshold", "credits", "100")),
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


SUB = {"tenant_id": "acme", "occurred_at": "2026-11-22T10:00:00Z", "subscription_id": "s1", "plan_name": "Team"}
EVENTS: list[tuple[dict[str, object], str, str]] = [
    (
        {"kind": "topup.succeeded", "purpose": "auto_recharge", "credits": "50", "amount_minor": 4500,
         "balance_after": "61.2"},
        "La recharge automatique de Acme a acheté 50,00 crédits pour 45,00\u00a0€. Nouveau solde : 61,20 crédits.",
        "Automatic recharge bought 50.00 credits for Acme (€45.00). New balance: 61.20 credits.",
    ),
    (
        {"kind": "topup.failed", "purpose": "auto_recharge", "credits": "50", "reason": "card_declined",
         "consecutive_failures": 3, "auto_recharge_disabled": True},
        "Après 3 échecs consécutifs, la recharge automatique a été désactivée.",
        "After 3 failures in a row, automatic recharge has been switched off.",
    ),
    (
        {"kind": "topup.failed", "purpose": "purchase", "credits": "20", "reason": "card_declined",
         "consecutive_failures": 0, "auto_recharge_disabled": False},
        "L'achat de 20,00 crédits n'a pas abouti",
        "Your purchase of 20.00 credits did not go through",
    ),
    (
        {**SUB, "kind": "subscription.renewal_upcoming", "renews_on": "2027-01-31", "days_before": 15,
         "amount_minor": 119880},
        "sera renouvelé le 31 janvier 2027, dans 15 jours, pour 1\u202f198,80\u00a0€.",
        "renews on 31 January 2027, in 15 days, for €1,198.80.",
    ),
    (
        {**SUB, "kind": "invoice.issued", "invoice_id": "i1", "invoice_number": "CF-2026-000042",
         "total_minor": 2420, "issued_on": "2026-11-22", "due_on": "2026-12-06"},
        "La facture CF-2026-000042 (Team) de 24,20\u00a0€ est disponible ; échéance le 6 décembre 2026.",
        "Invoice CF-2026-000042 (Team) for €24.20 is available; it is due on 6 December 2026.",
    ),
    (
        {**SUB, "kind": "invoice.payment_failed", "invoice_id": "i1", "invoice_number": "CF-2026-000042",
         "total_minor": 2420, "reason": "insufficient_funds"},
        "Le paiement de la facture CF-2026-000042 (24,20\u00a0€) de Acme a échoué (insufficient_funds).",
        "The payment of Acme's invoice CF-2026-000042 (€24.20) failed (insufficient_funds).",
    ),
    (
        {**SUB, "kind": "subscription.plan_changed", "previous_plan_name": "Team", "plan_name": "Business",
         "seats": 5, "previous_seats": 3, "interval": "annual", "effective_on": "2026-12-01", "scheduled": True},
        "passera de Team à Business (5 utilisateur(s)) le 1 décembre 2026.",
        "will change from Team to Business (5 user(s)) on 1 December 2026.",
    ),
    (
        {**SUB, "kind": "subscription.cancellation_scheduled", "last_day_of_access": "2026-12-31"},
        "le 31 décembre 2026 ; vous pouvez le réactiver d'ici là.",
        "until the last day of the licence, 31 December 2026;",
    ),
    (
        {**SUB, "kind": "subscription.ended", "last_day_of_access": "2026-12-31"},
        "L'abonnement Team de Acme est terminé : le 31 décembre 2026 était le dernier jour d'accès.",
        "Acme's Team subscription has ended: 31 December 2026 was the last day of access.",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("event", "french", "english"), EVENTS, ids=[str(e[0]["kind"]) for e in EVENTS])
def test_every_event_worth_a_mail_reads_right_in_french_and_english(
    event: dict[str, object], french: str, english: str
) -> None:
    notice = notice_for({"event_id": "e1", "tenant_id": "acme", **event}, "Acme")
    assert notice is not None

    fr = render(Delivery("d", notice, Recipient("a@acme.example", "fr")))
    en = render(Delivery("d", notice, Recipient("b@acme.example", "en")))

    assert french in fr.text
    assert english in en.text
    assert fr.subject and en.subject and fr.subject != en.subject


def test_rejected_debits_are_gathered_into_a_digest_rather_than_one_mail_each() -> None:
    event = {"kind": "debit.rejected", "event_id": "r1", "tenant_id": "acme", "amount": "0.15", "balance": "0.1"}
    notice = notice_for(event, "Acme")
    assert notice is not None and notice.digest

    [first, _] = deliveries(notice, TENANT, digest_key="digest:debits_rejected:20261122T1000")

    assert first.delivery_id == "acme|digest:debits_rejected:20261122T1000|admin@acme.example"


@pytest.mark.parametrize(
    ("at", "window"),
    [
        (datetime(2026, 11, 22, 10, 0, tzinfo=UTC), (datetime(2026, 11, 22, 10, 0, tzinfo=UTC), 15)),
        (datetime(2026, 11, 22, 10, 14, 59, tzinfo=UTC), (datetime(2026, 11, 22, 10, 0, tzinfo=UTC), 15)),
        (datetime(2026, 11, 22, 10, 15, tzinfo=UTC), (datetime(2026, 11, 22, 10, 15, tzinfo=UTC), 15)),
    ],
)
def test_a_digest_window_is_a_fixed_slot_and_the_digest_is_sent_at_its_end(
    at: datetime, window: tuple[datetime, int]
) -> None:
    start, end = RateLimit(digest_window=timedelta(minutes=15)).digest_window_of(at)

    assert (start, end) == (window[0], window[0] + timedelta(minutes=window[1]))


def test_an_event_with_nothing_to_tell_an_admin_is_not_mailed() -> None:
    for kind in ("entry.recorded", "settings.changed", "topup.requested", "invoice.paid", "subscription.renewed"):
        assert notice_for({"kind": kind, "event_id": "x", "tenant_id": "acme"}, "Acme") is None
    assert notice_for({**crossed("0", "5"), "kind": "threshold.recovered"}, "Acme") is not None
    assert notice_for({**crossed("100", "150"), "kind": "threshold.recovered"}, "Acme") is None
