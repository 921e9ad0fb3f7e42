"""Pure wallet rules: a wallet and a request in, the new wallet, its ledger entries and events out.

No I/O and no clock: the time is passed in. `decide` is the one entry point; everything it writes goes
through bucket movements, so `balance == sum(buckets) == sum(entries)` holds by construction.

Order of a decision:
1. buckets whose expiry has passed are expired (an `expiry` entry for what was left in each);
2. the request itself;
3. threshold crossings, from the balance before the command to the balance after it;
4. automatic recharge, if the balance is now under its trigger and no recharge is in flight.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from shared.frozen import built

from .events import (
    CommandRefused,
    DebitRejected,
    EntryMark,
    EntryRecorded,
    Event,
    PaymentFailed,
    PaymentRequested,
    PaymentSucceeded,
    RefusalReason,
    SettingsChanged,
    ThresholdCrossed,
    ThresholdRecovered,
)
from .model import (
    AUTO_RECHARGE,
    DEFAULT_PRIORITY,
    MICRO_EUR,
    OVERDRAFT,
    AdjustmentRequest,
    AutoRecharge,
    Bucket,
    ConfigureRequest,
    DebitRequest,
    ExpireRequest,
    GrantRequest,
    LedgerEntry,
    Movement,
    PaymentOutcome,
    PaymentPurpose,
    PendingPayment,
    PurchaseRequest,
    RefundRequest,
    Request,
    Unset,
    VoidRequest,
    Wallet,
    draw_order,
)

CENTS_PER_EUR = 100


def entry_id_for(tenant_id: str, command_id: str) -> str:
    """One main ledger entry per applied command; its id derives from the command id, scoped by tenant (two
    tenants may use the same command id), so every id the wallet emits is unique system-wide."""
    return f"entry:{tenant_id}:{command_id}"


def expiry_entry_id(tenant_id: str, bucket_id: str) -> str:
    return f"entry:{tenant_id}:expiry:{bucket_id}"


def is_below(balance: int, threshold: int) -> bool:
    """Below a positive threshold means strictly less; 'below' 0 means used up (0 or less)."""
    return balance < threshold if threshold > 0 else balance <= threshold


def threshold_changes(before: int, after: int, thresholds: tuple[int, ...], entry_id: str) -> list[Event]:
    """One event per threshold the balance moved across, in either direction; none while it stays put."""
    events: list[Event] = []
    for threshold in sorted(thresholds, reverse=True):
        was, now = is_below(before, threshold), is_below(after, threshold)
        if not was and now:
            events.append(ThresholdCrossed(threshold=threshold, balance=after, entry_id=entry_id))
        elif was and not now:
            events.append(ThresholdRecovered(threshold=threshold, balance=after, entry_id=entry_id))
    return events


def _div_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def price_in_cents(credits: int, credit_price: int) -> int:
    """What `credits` micro-credits cost at `credit_price` micro-euros per credit, in euro cents.

    The one rounding step of a purchase: half-even to the cent.
    """
    return _div_half_even(credits * credit_price * CENTS_PER_EUR, 10**6 * MICRO_EUR)


@dataclass(frozen=True)
class Outcome:
    wallet: Wallet
    events: list[Event]
    marks: tuple[EntryMark, ...] = ()

    @property
    def entries(self) -> list[LedgerEntry]:
        return [e.entry for e in self.events if isinstance(e, EntryRecorded)]


class _Decision:
    """The working state of one decision. Local and mutable for clarity; `decide` returns it frozen."""

    def __init__(self, wallet: Wallet, command_id: str, at: datetime) -> None:
        self.start = wallet
        self.wallet = wallet
        self.command_id = command_id
        self.at = at
        self.buckets: dict[str, Bucket] = {b.bucket_id: b for b in wallet.buckets}
        self.events: list[Event] = []
        self.marks: list[EntryMark] = []
        self.last_entry_id: str | None = None
        self.entry_count = wallet.entry_count
        """Entries in the ledger with those this decision records (the wallet takes it in `finish`)."""
        self._balance = sum(b.remaining for b in wallet.buckets)
        """The sum of the buckets, kept as they move (every change to a bucket goes through `move`)."""

    @property
    def balance(self) -> int:
        return self._balance

    def refuse(self, reason: RefusalReason, detail: str) -> None:
        self.events.append(CommandRefused(self.command_id, reason, detail))

    # -- bucket movements -----------------------------------------------------------------------------

    def move(self, bucket: Bucket, amount: int) -> Movement:
        updated = built(Bucket, {  # what `replace` makes, without its generic field walk: a debit moves one or two
            "bucket_id": bucket.bucket_id, "kind": bucket.kind, "remaining": bucket.remaining + amount,
            "granted_at": bucket.granted_at, "priority": bucket.priority, "expires_at": bucket.expires_at,
        })  # fmt: skip
        self.buckets[bucket.bucket_id] = updated
        self._balance += amount
        return built(Movement, {"bucket_id": bucket.bucket_id, "amount": amount, "kind": bucket.kind,
                                "priority": bucket.priority, "expires_at": bucket.expires_at})  # fmt: skip

    def take(self, amount: int) -> list[Movement]:
        """Draw `amount` from the positive buckets in draw order; what they cannot cover becomes debt."""
        movements: list[Movement] = []
        left = amount
        for bucket in sorted((b for b in self.buckets.values() if b.remaining > 0), key=draw_order):
            if left == 0:
                break
            part = min(left, bucket.remaining)
            movements.append(self.move(bucket, -part))
            left -= part
        if left:
            debt = self.buckets.get(OVERDRAFT) or Bucket(OVERDRAFT, "overdraft", 0, self.at, priority=0)
            movements.append(self.move(debt, -left))
        return movements

    def add(self, amount: int, into: Bucket) -> list[Movement]:
        """Credit `amount` into `into` (created if new); any debt is repaid first."""
        movements: list[Movement] = []
        left = amount
        debt = self.buckets.get(OVERDRAFT)
        if debt is not None and debt.remaining < 0:
            repaid = min(left, -debt.remaining)
            movements.append(self.move(debt, repaid))
            left -= repaid
        if left:
            target = self.buckets.get(into.bucket_id, replace(into, remaining=0))
            movements.append(self.move(target, left))
        return movements

    def record(
        self,
        movements: list[Movement],
        *,
        entry_type: str,
        source: str,
        entry_id: str | None = None,
        occurred_at: datetime | None = None,
        site: str | None = None,
        personnel: str | None = None,
        reference: str | None = None,
        description: str | None = None,
    ) -> LedgerEntry:
        amount = sum(m.amount for m in movements)
        balance_before = self.balance - amount
        entry = built(LedgerEntry, {
            "entry_id": entry_id or entry_id_for(self.wallet.tenant_id, self.command_id),
            "tenant_id": self.wallet.tenant_id,
            "entry_type": entry_type,
            "amount": amount,
            "balance_after": balance_before + amount,
            "occurred_at": occurred_at or self.at,
            "recorded_at": self.at,
            "command_id": self.command_id,
            "source": source,
            "site": site,
            "personnel": personnel,
            "movements": tuple(movements),
            "reference": reference,
            "reversed_amount": 0,
            "voided_by": None,
            "sequence": self.entry_count + 1,
            "description": description,
        })  # fmt: skip
        self.events.append(EntryRecorded(entry))
        self.last_entry_id = entry.entry_id
        self.entry_count += 1
        return entry

    def restore(self, entry: LedgerEntry, amount: int) -> list[Movement]:
        """Give back `amount` of what a debit-like entry drew, last-drawn first, skipping what earlier refunds
        already gave back. A part whose bucket has expired since is not restored (it would have expired)."""
        movements: list[Movement] = []
        skip, left = entry.reversed_amount, amount
        for drawn in reversed(entry.movements):
            available = -drawn.amount
            if available <= 0:
                continue
            skipped = min(skip, available)
            skip -= skipped
            part = min(available - skipped, left)
            if part <= 0:
                continue
            left -= part
            if drawn.bucket_id == OVERDRAFT:
                target = Bucket(f"restored:{self.command_id}", "restored", 0, self.at, priority=50)
            elif drawn.expires_at is not None and drawn.expires_at <= self.at:
                continue
            else:
                target = self.buckets.get(drawn.bucket_id) or Bucket(
                    drawn.bucket_id, drawn.kind, 0, self.at, drawn.priority, drawn.expires_at
                )
            movements.extend(self.add(part, target))
            if left == 0:
                break
        return movements

    # -- finishing --------------------------------------------------------------------------------------

    def expire_due(self) -> None:
        for bucket in sorted(self.buckets.values(), key=draw_order):
            if not bucket.is_expired(self.at):
                continue
            if bucket.remaining > 0:
                movement = self.move(bucket, -bucket.remaining)
                self.record(
                    [movement],
                    entry_type="expiry",
                    entry_id=expiry_entry_id(self.wallet.tenant_id, bucket.bucket_id),
                    occurred_at=bucket.expires_at,
                    source=f"{bucket.kind} credits {bucket.bucket_id} expired",
                )
            self._balance -= self.buckets.pop(bucket.bucket_id).remaining

    def finish(self) -> Outcome:
        before, after = self.start.balance, self.balance
        if self.start.entry_count and self.last_entry_id is not None:
            self.events.extend(threshold_changes(before, after, self.start.thresholds, self.last_entry_id))
        kept = tuple(
            b
            for b in self.buckets.values()
            if b.remaining != 0 or (b.expires_at is not None and b.bucket_id != OVERDRAFT)
        )
        start, marks = self.start, tuple(self.marks)
        moved = after != start.balance or kept != start.buckets or self.entry_count != start.entry_count
        if self.wallet is start and not moved:
            return Outcome(start, self.events, marks)  # nothing changed: same wallet, same version
        wallet = self.wallet.moved(balance=after, buckets=kept, entry_count=self.entry_count, version=start.version + 1)
        if not moved and replace(wallet, version=start.version) == start:  # settings set to what they were
            wallet = start
        return built(Outcome, {"wallet": wallet, "events": self.events, "marks": marks})  # one a command


# --- one function per request ----------------------------------------------------------------------------


def _debit(d: _Decision, request: DebitRequest) -> None:
    if d.balance - request.amount < d.wallet.policy.floor:
        d.events.append(DebitRejected(request.command_id, request.amount, d.balance))
        return
    d.record(
        d.take(request.amount),
        entry_type=request.entry_type,
        occurred_at=request.occurred_at,
        source=request.source,
        site=request.site,
        personnel=request.personnel,
        description=request.description,
    )


def _grant(d: _Decision, request: GrantRequest) -> None:
    if request.kind in ("allowance", "promotional") and request.expires_at is None:
        d.refuse("invalid_grant", f"{request.kind} credits need an expiry")
        return
    if request.expires_at is not None and request.expires_at <= d.at:
        d.refuse("invalid_grant", f"the grant would expire at once ({request.expires_at.isoformat()})")
        return
    priority = request.priority if request.priority is not None else DEFAULT_PRIORITY[request.kind]
    bucket = Bucket(request.command_id, request.kind, 0, d.at, priority, request.expires_at)
    d.record(
        d.add(request.amount, bucket),
        entry_type="grant",
        source=request.source,
        personnel=request.granted_by,
        description=request.description,
    )


def _purchase(d: _Decision, request: PurchaseRequest, admins: frozenset[str] | None) -> None:
    tenant_id = d.wallet.tenant_id
    if admins is None:
        d.refuse("unknown_tenant", f"no tenant {tenant_id!r}")
        return
    if request.requested_by.lower() not in admins:
        d.refuse("not_an_admin", f"{request.requested_by} is not an admin of the tenant")
        return
    _request_payment(d, f"purchase:{tenant_id}:{request.command_id}", request.credits, "purchase", request.requested_by)


def _request_payment(d: _Decision, payment_id: str, credits: int, purpose: PaymentPurpose, by: str | None) -> None:
    amount = price_in_cents(credits, d.wallet.credit_price)
    pending = PendingPayment(payment_id, credits, amount, purpose, by, d.at)
    d.wallet = replace(d.wallet, pending=(*d.wallet.pending, pending))
    d.events.append(PaymentRequested(payment_id, credits, amount, purpose, by, d.wallet.payment_method))


def _month(at: datetime) -> str:
    return at.strftime("%Y-%m")


def _payment(d: _Decision, outcome: PaymentOutcome) -> None:
    pending = d.wallet.pending_payment(outcome.payment_id)
    if pending is None:
        d.refuse("unknown_payment", f"no payment {outcome.payment_id} is awaited")
        return
    wallet = replace(d.wallet, pending=tuple(p for p in d.wallet.pending if p.payment_id != outcome.payment_id))
    auto = pending.purpose == "auto_recharge"
    if outcome.succeeded:
        if auto:
            month = _month(d.at)
            used = wallet.recharged_in_month if wallet.recharged_month == month else 0
            wallet = replace(
                wallet, recharge_failures=0, recharged_month=month, recharged_in_month=used + pending.credits
            )
        d.wallet = wallet
        bucket = Bucket(pending.payment_id, "purchased", 0, d.at, DEFAULT_PRIORITY["purchased"])
        entry = d.record(
            d.add(pending.credits, bucket),
            entry_type="topup",
            source=f"payment {pending.payment_id}",
            personnel=pending.requested_by or AUTO_RECHARGE,
        )
        d.events.append(
            PaymentSucceeded(
                pending.payment_id, pending.credits, pending.amount_minor, pending.purpose, entry.balance_after
            )
        )
        return
    failures = wallet.recharge_failures + 1 if auto else wallet.recharge_failures
    rule = wallet.auto_recharge
    disable = auto and rule is not None and rule.enabled and failures >= rule.max_failures
    if disable and rule is not None:
        wallet = replace(wallet, auto_recharge=replace(rule, enabled=False))
    d.wallet = replace(wallet, recharge_failures=failures)
    d.events.append(
        PaymentFailed(
            pending.payment_id,
            pending.credits,
            pending.purpose,
            outcome.reason or "payment_failed",
            failures if auto else 0,
            disable,
        )
    )


def _void(d: _Decision, request: VoidRequest, target: LedgerEntry | None) -> None:
    if (problem := _reversal_problem(target)) is not None:
        d.refuse(*problem)
        return
    assert target is not None
    if target.amount < 0:
        movements = d.restore(target, -target.amount - target.reversed_amount)
        given_back = -target.amount - target.reversed_amount
    else:
        credited = next((m for m in target.movements if m.amount > 0 and m.bucket_id != OVERDRAFT), None)
        bucket = d.buckets.get(credited.bucket_id) if credited else None
        movements = []
        if credited is not None and bucket is not None and bucket.remaining > 0:
            movements = [d.move(bucket, -min(bucket.remaining, credited.amount))]
        given_back = -sum(m.amount for m in movements)
    d.record(movements, entry_type="void", source=request.reason, personnel=request.by, reference=target.entry_id)
    d.marks.append(EntryMark(target.entry_id, given_back, voided_by=d.last_entry_id))


def _refund(d: _Decision, request: RefundRequest, target: LedgerEntry | None) -> None:
    if (problem := _reversal_problem(target)) is not None:
        d.refuse(*problem)
        return
    assert target is not None
    refundable = -target.amount - target.reversed_amount
    if target.amount >= 0:
        d.refuse("not_reversible", f"{target.entry_id} is a credit; void it instead")
        return
    if request.amount > refundable:
        d.refuse("exceeds_refundable", f"at most {refundable} micro-credits of {target.entry_id} can be refunded")
        return
    movements = d.restore(target, request.amount)
    d.record(movements, entry_type="refund", source=request.reason, personnel=request.by, reference=target.entry_id)
    d.marks.append(EntryMark(target.entry_id, request.amount))


def _reversal_problem(target: LedgerEntry | None) -> tuple[RefusalReason, str] | None:
    if target is None:
        return "unknown_entry", "no such ledger entry for this tenant"
    if target.entry_type in ("expiry", "void", "refund"):
        return "not_reversible", f"a {target.entry_type} entry cannot be reversed"
    if target.voided_by is not None:
        return "already_voided", f"{target.entry_id} was voided by {target.voided_by}"
    return None


def _adjust(d: _Decision, request: AdjustmentRequest) -> None:
    if request.amount > 0:
        bucket = Bucket(f"adjustment:{request.command_id}", "adjustment", 0, d.at, DEFAULT_PRIORITY["adjustment"])
        movements = d.add(request.amount, bucket)
    elif d.balance + request.amount < d.wallet.policy.floor:
        d.refuse("below_floor", "the adjustment would take the balance below the policy floor")
        return
    else:
        movements = d.take(-request.amount)
    d.record(movements, entry_type="adjustment", source=request.reason, personnel=request.by)


def _configure(d: _Decision, request: ConfigureRequest, admins: frozenset[str] | None) -> None:
    """Settings change on behalf of `request.by`: a tenant admin (anyone else is refused). Without `by`, the
    change comes from the vendor's own operators (the commands topic is not open to tenants)."""
    if request.by is not None and (admins is None or request.by.lower() not in admins):
        d.refuse("not_an_admin", f"{request.by} is not an admin of the tenant")
        return
    wallet, changed = d.wallet, list[str]()
    if not isinstance(request.policy, Unset):
        if request.policy.overdraft_limit < 0:
            d.refuse("invalid_settings", "an overdraft limit cannot be negative")
            return
        if d.balance < request.policy.floor:
            d.refuse("below_floor", "the balance is already below the floor of the new policy")
            return
        wallet, changed = replace(wallet, policy=request.policy), [*changed, "policy"]
    if not isinstance(request.thresholds, Unset):
        wallet = replace(wallet, thresholds=tuple(sorted(set(request.thresholds), reverse=True)))
        changed.append("thresholds")
    if not isinstance(request.auto_recharge, Unset):
        rule = request.auto_recharge
        if rule is not None and (problem := _auto_recharge_problem(rule)):
            d.refuse("invalid_settings", problem)
            return
        wallet = replace(wallet, auto_recharge=rule, recharge_failures=0)
        changed.append("auto_recharge")
    if not isinstance(request.credit_price, Unset):
        if request.credit_price <= 0:
            d.refuse("invalid_settings", "a credit price must be positive")
            return
        wallet, changed = replace(wallet, credit_price=request.credit_price), [*changed, "credit_price"]
    if not isinstance(request.payment_method, Unset):
        wallet = replace(wallet, payment_method=request.payment_method)
        changed.append("payment_method")
    d.wallet = wallet
    d.events.append(SettingsChanged(request.command_id, tuple(changed), request.by))


def _auto_recharge_problem(rule: AutoRecharge) -> str | None:
    if rule.amount <= 0 or rule.monthly_cap <= 0 or rule.max_failures < 1:
        return "amount and monthly cap must be positive, max failures at least 1"
    if rule.mode == "target" and rule.amount <= rule.trigger:
        return "a top-up-to target must be above the trigger"
    return None


def _maybe_recharge(d: _Decision) -> None:
    rule = d.wallet.auto_recharge
    if rule is None or not rule.enabled or d.wallet.recharge_in_flight or d.balance >= rule.trigger:
        return
    month = _month(d.at)
    used = d.wallet.recharged_in_month if d.wallet.recharged_month == month else 0
    wanted = rule.amount if rule.mode == "fixed" else rule.amount - d.balance
    credits = min(wanted, rule.monthly_cap - used)
    if credits <= 0:
        return
    _request_payment(d, f"recharge:{d.wallet.tenant_id}:{d.command_id}", credits, "auto_recharge", None)


def decide(
    wallet: Wallet,
    request: Request,
    *,
    at: datetime,
    admins: frozenset[str] | None = None,
    target: LedgerEntry | None = None,
) -> Outcome:
    """Apply one request to one wallet. `admins` are the tenant's admins (None: unknown tenant); `target` is
    the ledger entry a void or refund names, if it exists."""
    d = _Decision(wallet, request.command_id, at)
    d.expire_due()
    match request:
        case DebitRequest():
            _debit(d, request)
        case GrantRequest():
            _grant(d, request)
        case PurchaseRequest():
            _purchase(d, request, admins)
        case PaymentOutcome():
            _payment(d, request)
        case VoidRequest():
            _void(d, request, target)
        case RefundRequest():
            _refund(d, request, target)
        case AdjustmentRequest():
            _adjust(d, request)
        case ExpireRequest():
            pass
        case ConfigureRequest():
            _configure(d, request, admins)
    if not isinstance(request, PaymentOutcome):
        _maybe_recharge(d)
    return d.finish()
