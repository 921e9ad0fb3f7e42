"""Every ledger entry says what it was for, in words a tenant's people read (PlanManager: "App d'inspecteur frais
mensuels", "sms"), in the tenant's language."""

from datetime import UTC, datetime

import pytest

from creditflow.views import ledger_row, ledger_table
from services.wallet.domain.describe import describe
from services.wallet.domain.model import AUTO_RECHARGE, CREDIT, DebitRequest, GrantRequest, LedgerEntry, Wallet
from services.wallet.domain.rules import decide

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def entry(entry_type: str, amount: float, **fields: object) -> LedgerEntry:
    base: dict[str, object] = {
        "entry_id": f"entry:acme:{entry_type}",
        "tenant_id": "acme",
        "entry_type": entry_type,
        "amount": int(amount * CREDIT),
        "balance_after": 0,
        "occurred_at": AT,
        "recorded_at": AT,
        "command_id": "c",
        "source": "",
    }
    return LedgerEntry(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "french", "english"),
    [
        (entry("topup", 300, personnel="admin@acme.example"), "Achat de 300 crédits", "Purchase of 300 credits"),
        (entry("topup", 12.5, personnel=AUTO_RECHARGE), "Recharge automatique de 12,5 crédits",
         "Automatic recharge of 12.5 credits"),
        (entry("grant", 20, source="granted by an operator"), "Crédits offerts", "Credits granted"),
        (entry("grant", 20, source="welcome"), "Crédits offerts : welcome", "Credits granted: welcome"),
        (entry("expiry", -5), "Crédits expirés", "Expired credits"),
        (entry("void", 0.15, source="sent twice"), "Annulation : sent twice", "Void: sent twice"),
        (entry("refund", 1, source="bounced"), "Remboursement : bounced", "Refund: bounced"),
        (entry("adjustment", -2, source="typo"), "Correction : typo", "Adjustment: typo"),
        # what another service said the entry was for wins: the app's or the meter's name
        (entry("monthly_fee:inspecteur", -2.5, description="App d'inspecteur frais mensuels"),
         "App d'inspecteur frais mensuels", "App d'inspecteur frais mensuels"),
        (entry("sms", -0.15), "sms", "sms"),  # an entry from before descriptions: its type
    ],
)  # fmt: skip
def test_every_entry_is_described_in_the_readers_language(item: LedgerEntry, french: str, english: str) -> None:
    assert (describe(item, "fr"), describe(item, "en")) == (french, english)


def test_a_debit_or_grant_keeps_the_description_its_command_gave() -> None:
    wallet = Wallet("acme")
    granted = decide(
        wallet,
        GrantRequest("g", 10 * CREDIT, "purchased", "bought elsewhere", description="Crédits de bienvenue"),
        at=AT,
        admins=frozenset(),
    )
    debited = decide(
        granted.wallet,
        DebitRequest("d", CREDIT // 10, "apf", AT, "usage.events:e1", description="Commande fournisseur (apf)"),
        at=AT,
        admins=frozenset(),
    )

    recorded = [e.entry.description for o in (granted, debited) for e in o.events if hasattr(e, "entry")]
    assert recorded == ["Crédits de bienvenue", "Commande fournisseur (apf)"]


def test_the_text_ledger_cuts_no_column_so_two_types_never_look_alike() -> None:
    rows = [
        ledger_row(entry("monthly_fee:inspecteur", -2.5, personnel="Philippe Lemaire",
                         description="App d'inspecteur frais mensuels"), "fr"),
        ledger_row(entry("monthly_fee:inspection-plus", -2.5, personnel="Philippe Lemaire",
                         description="App d'inspection plus frais mensuels"), "fr"),
    ]  # fmt: skip

    table = "\n".join(ledger_table(rows))

    for text in ("monthly_fee:inspecteur", "monthly_fee:inspection-plus", "App d'inspecteur frais mensuels",
                 "App d'inspection plus frais mensuels", "Philippe Lemaire"):  # fmt: skip
        assert text in table
