"""Properties of the wallet service over random command sequences, delivered at least once.

Commands for three tenants (one hard, one with an overdraft, one with auto-recharge) are delivered with
duplicates, a replay of a prefix and reordering within each tenant. Whatever the delivery:
balance == sum of entries == sum of buckets, every command applies at most once, a redelivery republishes
exactly the events of the first delivery, no tenant's command changes another tenant, and a hard-policy
balance never goes below zero.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import payments
from schemas import wallet as wire
from services.wallet.adapters.memory import InMemoryWalletStore
from services.wallet.domain.reconcile import problems
from services.wallet.service import WalletInput, WalletService

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TENANTS = ("hard", "overdraft", "recharge")
ADMIN = "admin@acme.example"


class Admins:
    async def admins(self, tenant_id: str) -> frozenset[str] | None:
        return frozenset({ADMIN})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


credits = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(40), places=2)
op = st.one_of(
    st.tuples(st.just("debit"), credits),
    st.tuples(
        st.just("grant"), credits, st.sampled_from(["purchased", "promotional", "allowance"]), st.integers(1, 72)
    ),
    st.tuples(st.just("topup"), credits),
    st.tuples(st.just("pay"), st.booleans()),
    st.tuples(st.just("void"), st.integers(0, 40)),
    st.tuples(st.just("refund"), st.integers(0, 40), credits),
    st.tuples(st.just("adjust"), credits, st.booleans()),
    st.tuples(st.just("expire")),
)


@dataclass(frozen=True)
class Delivery:
    tenant: str
    index: int
    op: tuple[Any, ...]


def command(d: Delivery, at: datetime, pending: list[str]) -> WalletInput | None:
    """The wire message of one delivery. A `pay` settles the oldest payment the tenant awaits, if any."""
    base: dict[str, Any] = {"command_id": f"c{d.index}", "tenant_id": d.tenant, "issued_at": at}
    match d.op:
        case ("debit", amount):
            return wire.Debit(**base, amount=amount, entry_type="sms", occurred_at=at, source="prop")
        case ("grant", amount, kind, hours):
            expiry = at + timedelta(hours=hours) if kind != "purchased" else None
            return wire.Grant(**base, amount=amount, grant_kind=kind, expires_at=expiry, source="prop")
        case ("topup", amount):
            return wire.TopUp(**base, credits=amount, requested_by=ADMIN)
        case ("pay", ok):
            if not pending:
                return None
            if ok:
                return payments.PaymentSucceeded(
                    payment_id=pending[0], tenant_id=d.tenant, amount_minor=1, occurred_at=at
                )
            return payments.PaymentFailed(
                payment_id=pending[0], tenant_id=d.tenant, reason="card_declined", occurred_at=at
            )
        case ("void", target):
            return wire.Void(**base, entry_id=f"entry:{d.tenant}:c{target}", reason="prop")
        case ("refund", target, amount):
            return wire.Refund(**base, entry_id=f"entry:{d.tenant}:c{target}", amount=amount, reason="prop")
        case ("adjust", amount, up):
            return wire.Adjustment(**base, amount=amount if up else -amount, reason="prop")
        case ("expire",):
            return wire.Expire(**base)
    raise AssertionError(d.op)


def setup(tenant: str) -> wire.Configure:
    settings: dict[str, Any] = {
        "hard": {"policy": "hard"},
        "overdraft": {"policy": "overdraft", "overdraft_limit": Decimal(25)},
        "recharge": {
            "auto_recharge": wire.AutoRechargeRule(
                trigger=Decimal(10), mode="target", amount=Decimal(50), monthly_cap=Decimal(200), max_failures=2
            )
        },
    }[tenant]
    return wire.Configure(command_id="setup", tenant_id=tenant, issued_at=T0, **settings)


async def run(deliveries: list[Delivery], *, check_each: bool) -> tuple[InMemoryWalletStore, dict[str, list[Any]]]:
    store, clock = InMemoryWalletStore(), Clock()
    service = WalletService(store, Admins(), clock)
    first_events: dict[tuple[str, str], list[dict[str, Any]]] = {}
    sent: dict[str, list[Any]] = {t: [] for t in TENANTS}
    for tenant in TENANTS:
        await service.handle(setup(tenant))
    for step, d in enumerate(deliveries):
        clock.now = T0 + timedelta(hours=d.index)  # a command's time is its own, however late it is delivered
        wallet = await store.wallet(d.tenant)
        message = command(d, clock.now, [p.payment_id for p in wallet.pending])
        if message is None:
            continue
        sent[d.tenant].append(message)
        key = (
            d.tenant,
            message.command_id
            if not isinstance(message, payments.PaymentSucceeded | payments.PaymentFailed)
            else f"payment:{message.payment_id}",
        )
        applied = await service.handle(message)
        if key in first_events and applied.status != "conflict":
            assert applied.status == "duplicate"
            assert applied.events == first_events[key], "a redelivery republishes exactly the first events"
        elif applied.status == "applied":
            first_events[key] = applied.events
        if check_each:
            wallet = await store.wallet(d.tenant)
            assert problems(wallet, *await store.sum_of_entries(d.tenant)) == [], step
            if d.tenant == "hard":
                assert wallet.balance >= 0
    return store, sent


@st.composite
def deliveries(draw: st.DrawFn) -> list[Delivery]:
    per_tenant = {t: draw(st.lists(op, max_size=25)) for t in TENANTS}
    issued = [Delivery(t, i, o) for t, ops in per_tenant.items() for i, o in enumerate(ops)]
    order = draw(st.permutations(issued))  # interleaving across tenants and reordering within each
    duplicated = list(order)
    for _ in range(draw(st.integers(0, 10))):
        if duplicated:
            position = draw(st.integers(0, len(duplicated) - 1))
            duplicated.insert(draw(st.integers(position, len(duplicated))), duplicated[position])
    replay = duplicated[: draw(st.integers(0, len(duplicated)))]
    return duplicated + replay


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=deliveries())
async def test_the_ledger_stays_exact_and_isolated_whatever_the_delivery(plan: list[Delivery]) -> None:
    store, _ = await run(plan, check_each=True)

    ids = [e.entry_id for e in store.entries]
    assert len(ids) == len(set(ids)), "no ledger entry is written twice"
    main_entries = [e for e in store.entries if ":expiry:" not in e.entry_id]
    assert len(main_entries) <= len(store.applied), "at most one entry per applied command"
    for tenant in TENANTS:
        numbers = [e.sequence for e in await store.ledger_of(tenant)]
        assert numbers == list(range(1, len(numbers) + 1)), "each tenant's ledger is numbered 1, 2, ... in order"
        alone, _ = await run([d for d in plan if d.tenant == tenant], check_each=False)
        assert await alone.wallet(tenant) == await store.wallet(tenant), "other tenants' commands changed nothing"
        assert await alone.ledger_of(tenant) == await store.ledger_of(tenant)
