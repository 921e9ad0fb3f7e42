"""The money paths of the fault harness besides usage debits (`proof/chaos.py` runs them during its faults):
top-ups through Kafka and through the HTTP API (idempotency keys, retried through API restarts), auto-recharges,
a year of subscriptions driven by the scheduler's own `run_once` at a simulated clock (start, upgrade, seats,
cancellation, renewals, allowances, month-end app fees, and a rerun of the last months), low-balance alerts by
e-mail and webhook.

Every expectation is computed here, from this module's own price list and proration rule (the product's
documented ones: prices per seat per month, a change prorated over the days left in the period, each line
rounded half-even to the cent, 21 % VAT on the subtotal), never by calling the services' code.
"""

import asyncio
import email
import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from creditflow.ops import Ops
from schemas import subscriptions as sub
from schemas import topics
from schemas import wallet as wire
from shared.localstack import free_port
from shared.signing import WebhookSignatureError, verify

T = TypeVar("T")
MICROS = Decimal(1_000_000)

# --- the harness's own price list (the catalogue's, written down again) ------------------------------------
SEAT_PRICE = {"team": 1500, "business": 3000}  # cents per seat per month
INCLUDED_CREDITS = {"team": 50, "business": 200}  # granted on each monthly anniversary
APP_FEE_MICROS = 2_500_000  # the "inspecteur" app, per user per month end
VAT = Decimal("0.21")
STALL_SECONDS = 600
"""The subscriptions worker is stuck, not slow, when it applies nothing for this long while ticks wait."""
YEAR_START, CHANGE_DAY, YEAR_END = date(2027, 1, 1), date(2027, 3, 8), date(2027, 12, 31)
RERUN_FROM = date(2027, 10, 28)
ANNIVERSARIES = [date(2027, m, 1) for m in range(1, 13)]
MONTH_ENDS = [f"2027-{m:02d}" for m in range(1, 12)]  # month-end:2027-12 is published on 2028-01-01


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


Change = Literal["none", "upgrade", "seats", "cancel"]


@dataclass(frozen=True)
class Subscriber:
    tenant: str
    seats: int
    change: Change
    app_users: tuple[str, ...]

    def invoices(self) -> list[tuple[str, int, int]]:
        """(reason, subtotal, VAT) in cents, in the order they are issued: a monthly Team plan from 1 January,
        one change on 8 March (24 of March's 31 days left), renewals on the 1st until 1 December."""
        plan, seats, found = "team", self.seats, []

        def invoice(reason: str, subtotal: int) -> None:
            found.append((reason, subtotal, half_even(Decimal(subtotal) * VAT)))

        invoice("start", SEAT_PRICE[plan] * seats)  # 1 January
        invoice("renewal", SEAT_PRICE[plan] * seats)  # 1 February
        invoice("renewal", SEAT_PRICE[plan] * seats)  # 1 March
        left, days = 24, 31  # 8 March: 8..31 March left of 31 days
        if self.change == "upgrade":  # the Team seats credited, the Business seats charged, for the days left
            old = half_even(Decimal(-SEAT_PRICE["team"] * seats * left) / days)
            new = half_even(Decimal(SEAT_PRICE["business"] * seats * left) / days)
            invoice("upgrade", old + new)
            plan = "business"
        elif self.change == "seats":  # two more users for the days left
            invoice("seats", half_even(Decimal(SEAT_PRICE[plan] * 2 * left) / days))
            seats += 2
        elif self.change == "cancel":  # access until 31 March, no renewal after
            return found
        for _ in range(4, 13):  # 1 April .. 1 December
            invoice("renewal", SEAT_PRICE[plan] * seats)
        return found

    def allowances(self) -> dict[str, int]:
        """Anniversary (ISO day) -> credits granted (micro-credits): the plan's included credits then."""
        last = date(2027, 3, 1) if self.change == "cancel" else ANNIVERSARIES[-1]
        return {
            a.isoformat(): INCLUDED_CREDITS["business" if self.change == "upgrade" and a > CHANGE_DAY else "team"]
            * 1_000_000
            for a in ANNIVERSARIES
            if a <= last
        }

    def fees(self) -> set[str]:
        """The fee ids the month ends charge: one per app user per month (apps only on subscribers that stay)."""
        return {f"fee:{self.tenant}:inspecteur:{user}:{month}" for user in self.app_users for month in MONTH_ENDS}


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def retrying(call: Callable[[], Awaitable[T]], *, timeout: float = 300, what: str = "") -> T:
    """The harness's own calls go through the same outages as the workers: retry until they answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


# --- webhooks: a receiver the harness runs ------------------------------------------------------------------


@dataclass
class Receiver:
    """A vendor's webhook receiver (a real HTTP server on loopback): records every request; answers the statuses in
    `answers` in turn, then 200."""

    port: int = field(default_factory=free_port)
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, secret: str) -> list[dict[str, Any]]:
        """Every delivery's event, each checked against `secret` as a receiver would."""
        from creditflow.client import verify_webhook

        return [verify_webhook(body, headers.get("Creditflow-Signature"), secret) for headers, body in self.received]


# --- the plan: what the harness does, to check against --------------------------------------------------------


@dataclass
class MoneyPlan:
    topup_tenants: list[str]
    auto_tenants: list[str]
    alert_tenants: list[str]
    subscribers: list[Subscriber]
    kafka_topups: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # command id -> (tenant, credits)
    api_topups: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # idempotency key -> (tenant, credits)
    api_commands: dict[str, str] = field(default_factory=dict)  # idempotency key -> the command id answered
    api_retries: int = 0
    webhook_secret: str = ""
    members: dict[str, str] = field(default_factory=dict)  # tenant -> its member (never e-mailed)
    checked: Counter[str] = field(default_factory=Counter)  # what the last audit looked at


def admins(tenant: str) -> list[str]:
    return [f"admin@{tenant}.example", f"boss@{tenant}.example"]


def kafka_topups(plan: MoneyPlan, rng: Any, count: int) -> list[tuple[str, str, bytes]]:
    """Top-up commands on `wallet.commands`, each published one to three times: (topic, key, bytes)."""
    out = []
    for n in range(count):
        tenant = rng.choice(plan.topup_tenants)
        credits = Decimal(rng.randint(1, 50))
        command = wire.TopUp(command_id=f"topup:chaos:{n}", tenant_id=tenant, issued_at=datetime.now(UTC),
                             credits=credits, requested_by=admins(tenant)[0])  # fmt: skip
        plan.kafka_topups[command.command_id] = (tenant, credits)
        out += [(topics.WALLET_COMMANDS, tenant, command.model_dump_json().encode())] * rng.choice([1, 1, 2, 3])
    return out


async def api_topups(plan: MoneyPlan, api_url: str, key: str, rng: Any, count: int, stop: asyncio.Event) -> None:
    """Top-ups through the API, each with an Idempotency-Key, retried (same key, same body) on no answer or a 5xx
    (the API is killed and restarted meanwhile) until it answers 202."""
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        for n in range(count):
            tenant = rng.choice(plan.topup_tenants)
            credits = Decimal(rng.randint(1, 50))
            idem = f"chaos-api-{n}"
            plan.api_topups[idem] = (tenant, credits)
            while True:
                try:
                    answer = await api.post(
                        f"/v1/tenants/{tenant}/wallet/top-ups", json={"credits": str(credits)},
                        headers={"Idempotency-Key": idem, "Acting-As": admins(tenant)[0]},
                    )  # fmt: skip
                    if answer.status_code == 202:
                        plan.api_commands[idem] = answer.json()["command_id"]
                        break
                    if answer.status_code < 500:
                        raise RuntimeError(f"API refused a valid top-up: {answer.status_code} {answer.text[:200]}")
                except httpx.HTTPError:
                    pass
                plan.api_retries += 1
                await asyncio.sleep(0.5)
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            if stop.is_set():
                break


# --- a year of subscriptions at the scheduler's clock -------------------------------------------------------------


class Year:
    """A year of subscriptions. With `scheduler_env`, each scheduler run is its own process (`creditflow scheduler
    run-once` at the simulated clock) which `kill_rng` SIGKILLs at a random moment about half the time, mid-import,
    mid-publish or mid-record; the run is then started again, as a restarted scheduler would be. Without it, the
    scheduler's `run_once` runs in this process."""

    def __init__(self, ops: Ops, plan: MoneyPlan, *, scheduler_env: dict[str, str] | None = None,
                 kill_rng: random.Random | None = None) -> None:  # fmt: skip
        self.ops, self.plan, self.n = ops, plan, 0
        self.scheduler_env, self.kill_rng = scheduler_env, kill_rng
        self.scheduler_runs = self.scheduler_kills = 0
        self.run_seconds = 3.0

    async def scheduler_once(self, moment: datetime) -> None:
        if self.scheduler_env is None:
            await retrying(lambda: self.ops.run_scheduler_once(moment), what=f"scheduler {moment}")
            return
        command = [sys.executable, "-m", "creditflow", "scheduler", "run-once", "--now", moment.isoformat(),
                   "--state-dir", str(self.ops.settings.state_dir)]  # fmt: skip
        deadline = time.monotonic() + 600
        while True:
            self.scheduler_runs += 1
            process = await asyncio.create_subprocess_exec(
                *command, env=self.scheduler_env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            # a moment within the run (as long as the last whole run took): mid-import, mid-publish or mid-record
            rng = self.kill_rng
            kill_after = rng.uniform(0.2, 1.0) * self.run_seconds if rng and rng.random() < 0.5 else None
            began = time.monotonic()
            try:
                code = await asyncio.wait_for(process.wait(), timeout=kill_after or 300)
            except TimeoutError:
                process.send_signal(signal.SIGKILL)
                await process.wait()
                self.scheduler_kills += kill_after is not None
                continue
            if code == 0:
                self.run_seconds = time.monotonic() - began
                return
            if time.monotonic() > deadline:  # an outage outlasted the retries
                raise RuntimeError(f"the scheduler run at {moment} kept failing (exit {code})")
            await asyncio.sleep(1)

    async def command(self, cls: type, tenant: str, day: date, **fields: Any) -> None:
        self.n += 1
        command = cls(command_id=f"chaos-sub-{self.n}", tenant_id=tenant, issued_at=at(day), by=admins(tenant)[0],
                      **fields)  # fmt: skip
        await retrying(lambda: self.ops.send_subscription(command, wait=60), what=f"{cls.__name__} {tenant}")

    async def until(self, day: date, *, accounts: bool = True) -> None:
        """The scheduler's own `run_once` at 00:05 on `day` (catching up every day before); then wait until the
        subscriptions worker has processed that day's tick for every subscriber."""
        print(f"year: the scheduler runs at {day} 00:05", flush=True)
        await self.scheduler_once(at(day, 0, 5))
        if not accounts:  # nobody subscribed yet: no tick to wait for
            return
        db = self.ops.mongo[self.ops.settings.database_name("subscriptions")]

        async def processed() -> bool:
            return await db["ticks"].find_one({"_id": f"day:{day.isoformat()}"}) is not None

        # Under a long backlog the ticks can take many minutes: wait while the worker makes progress, and call it
        # stuck only when it has finished no tick at all for STALL_SECONDS.
        applied, progressed, looked = -1, time.monotonic(), 0.0
        while not await retrying(processed):
            if time.monotonic() - looked > 15:
                looked = time.monotonic()
                count = await retrying(db["ticks"].estimated_document_count)  # ticks done
                if count != applied:
                    applied, progressed = count, looked
                elif looked - progressed > STALL_SECONDS:
                    raise TimeoutError(f"subscriptions finished no tick for {STALL_SECONDS} s (waiting for {day})")
            await asyncio.sleep(0.5)

    async def run(self) -> None:
        subscribers = self.plan.subscribers
        await self.until(YEAR_START, accounts=False)
        info = sub.BillingInfo(company_name="Chaos SA", address_line1="Rue Neuve 1", postal_code="1000",
                               city="Bruxelles", country="BE", vat_number="BE0999999999")  # fmt: skip
        card = sub.Card(brand="Visa", last4="4242", exp_month=12, exp_year=2030, funding="credit")
        for s in subscribers:
            await self.command(sub.SetBillingInfo, s.tenant, YEAR_START, billing_info=info)
            await self.command(sub.SetPaymentMethod, s.tenant, YEAR_START, method="card", card=card)
            await self.command(sub.Start, s.tenant, YEAR_START, plan="team", interval="monthly", seats=s.seats)
            if s.app_users:
                await self.command(sub.AssignApp, s.tenant, YEAR_START, app="inspecteur", users=list(s.app_users))
        await self.until(CHANGE_DAY)
        for s in subscribers:
            if s.change == "upgrade":
                await self.command(sub.ChangePlan, s.tenant, CHANGE_DAY, plan="business")
            elif s.change == "seats":
                await self.command(sub.ChangeSeats, s.tenant, CHANGE_DAY, seats=s.seats + 2)
            elif s.change == "cancel":
                await self.command(sub.Cancel, s.tenant, CHANGE_DAY)
        for month in range(CHANGE_DAY.month + 1, 13):  # a run a month (each catching up on the days before)
            await self.until(date(YEAR_END.year, month, 1))
        await self.until(YEAR_END)

    async def rerun(self) -> None:
        """A second scheduler, or a rerun after a crash, publishes the last months' ticks again."""
        from services.scheduler.adapters.mongo import MongoLease

        lease = MongoLease(self.ops.mongo[self.ops.settings.database_name("scheduler")])
        await retrying(lambda: lease.record_emitted(RERUN_FROM))
        await self.until(YEAR_END)


# --- the checks ---------------------------------------------------------------------------------------------------


async def audit(ops: Ops, plan: MoneyPlan, debits: dict[str, dict[str, int]], mailbox: Path,
                receiver: Receiver) -> list[str]:  # fmt: skip
    """`debits`: tenant -> event id -> micro-credits the harness prices it at."""
    plan.checked = Counter()
    found: list[str] = []
    found += await _audit_topups(ops, plan, debits)
    found += await _audit_subscriptions(ops, plan)
    found += await _audit_alerts(ops, plan, mailbox, receiver)
    return found


async def _charges(ops: Ops) -> dict[str, dict[str, Any]]:
    db = ops.mongo[ops.settings.database_name("payments")]
    return {d["_id"]: d async for d in db["charges"].find({})}


async def _audit_topups(ops: Ops, plan: MoneyPlan, debits: dict[str, dict[str, int]]) -> list[str]:
    found: list[str] = []
    charges = await _charges(ops)
    expected: dict[str, dict[str, int]] = {t: {} for t in plan.topup_tenants}  # tenant -> payment id -> micros
    for command_id, (tenant, credits) in plan.kafka_topups.items():
        expected[tenant][f"purchase:{tenant}:{command_id}"] = int(credits * MICROS)
    for idem, (tenant, credits) in plan.api_topups.items():
        answered = plan.api_commands.get(idem)
        if answered is None:
            found.append(f"API top-up {idem} never answered 202")
            continue
        expected[tenant][f"purchase:{tenant}:{answered}"] = int(credits * MICROS)
    async with ops.wallet_store() as store:
        for tenant in plan.topup_tenants + plan.auto_tenants:
            entries = await store.ledger(tenant, limit=200_000)
            credited = Counter(e.command_id.removeprefix("payment:") for e in entries
                               if e.command_id.startswith("payment:"))  # fmt: skip
            plan.checked["payments credited"] += sum(credited.values())
            twice = [p for p, n in credited.items() if n > 1]
            if twice:
                found.append(f"{tenant}: payments credited twice: {twice[:3]}")
            mine = {p: c for p, c in charges.items() if c["tenant_id"] == tenant}
            succeeded = {
                p for p, c in mine.items() if c["outcome"].get("kind", "payment.succeeded") != "payment.failed"
            }
            if tenant in expected:
                want = expected[tenant]
                if set(credited) != set(want):
                    found.append(f"{tenant}: top-ups credited {len(credited)} != {len(want)} made "
                                 f"(missing {sorted(set(want) - set(credited))[:2]}, "
                                 f"extra {sorted(set(credited) - set(want))[:2]})")  # fmt: skip
                amounts = {e.command_id.removeprefix("payment:"): e.amount for e in entries
                           if e.command_id.startswith("payment:")}  # fmt: skip
                wrong = {p: a for p, a in amounts.items() if p in want and want[p] != a}
                if wrong:
                    found.append(f"{tenant}: top-ups credited at the wrong amount: {list(wrong.items())[:2]}")
            if set(credited) - succeeded:
                found.append(f"{tenant}: credited without a successful charge: {sorted(set(credited) - succeeded)[:2]}")
            if succeeded - set(credited):
                found.append(f"{tenant}: charged and never credited: {sorted(succeeded - set(credited))[:2]}")
            wallet = await store.wallet(tenant)
            purchases = sum(e.amount for e in entries if e.command_id.startswith("payment:"))
            charged_debits = {e.command_id.removeprefix("usage:"): e.amount for e in entries
                              if e.command_id.startswith("usage:")}  # fmt: skip
            prices = debits.get(tenant, {})
            wrong_price = {k: v for k, v in charged_debits.items() if prices.get(k) != v}
            if wrong_price:
                found.append(f"{tenant}: debits not from its own events or at the wrong price: "
                             f"{list(wrong_price.items())[:2]}")  # fmt: skip
            funding = sum(e.amount for e in entries if e.command_id.startswith("grant:"))
            independent = funding + purchases + sum(prices[k] for k in charged_debits if k in prices)
            if wallet.balance != independent:
                found.append(f"{tenant}: balance {wallet.balance} != grants + purchases - debits {independent}")
    return found


async def _audit_subscriptions(ops: Ops, plan: MoneyPlan) -> list[str]:
    from services.wallet.ports import LedgerQuery

    found: list[str] = []
    charges = await _charges(ops)
    db = ops.mongo[ops.settings.database_name("subscriptions")]
    numbers = [d["number"] async for d in db["invoices"].find({"number": {"$ne": None}}, {"number": 1})]
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers if n)
    if sequence != list(range(1, len(sequence) + 1)):
        dupes = [n for n, c in Counter(sequence).items() if c > 1]
        gaps = sorted(set(range(1, max(sequence, default=0) + 1)) - set(sequence))
        found.append(f"invoice numbers not 1..{len(sequence)}: duplicates {dupes[:3]}, gaps {gaps[:3]}")
    async with ops.subscription_store() as subscriptions, ops.wallet_store() as wallet:
        for s in plan.subscribers:
            invoices = sorted(await subscriptions.invoices(s.tenant, limit=1000), key=lambda i: i.number or "")
            plan.checked["invoices"] += len(invoices)
            got = [(i.reason, i.subtotal, i.vat) for i in invoices]
            if got != s.invoices():
                found.append(f"{s.tenant} ({s.change}): invoices {got} != expected {s.invoices()}")
            unpaid = [i.number for i in invoices if i.status != "paid"]
            if unpaid:
                found.append(f"{s.tenant}: invoices not paid: {unpaid[:3]}")
            paid = Counter(c["_id"] for c in charges.values() if c["tenant_id"] == s.tenant)
            if any(n > 1 for n in paid.values()) or len(paid) != len(invoices):
                found.append(f"{s.tenant}: {len(paid)} charges for {len(invoices)} invoices")
            grants = await wallet.ledger(s.tenant, limit=1000, query=LedgerQuery(entry_type="grant"))
            allowances = Counter(
                g.command_id.rsplit(":", 1)[1] for g in grants if g.command_id.startswith("allowance:")
            )
            amounts = {
                g.command_id.rsplit(":", 1)[1]: g.amount for g in grants if g.command_id.startswith("allowance:")
            }
            if any(n > 1 for n in allowances.values()) or amounts != s.allowances():
                most = max(allowances.values(), default=0)
                found.append(f"{s.tenant}: allowances {dict(sorted(amounts.items()))} (up to {most} each) "
                             f"!= {s.allowances()}")  # fmt: skip
            plan.checked["allowances"] += sum(allowances.values())
            fees = await wallet.ledger(s.tenant, limit=1000, query=LedgerQuery(entry_type="monthly_fee:inspecteur"))
            plan.checked["month-end fees"] += len(fees)
            ids = Counter(f.command_id for f in fees)
            if set(ids) != s.fees() or any(n > 1 for n in ids.values()):
                found.append(f"{s.tenant}: {sum(ids.values())} month-end fees ({len(set(ids))} distinct) != "
                             f"{len(s.fees())} expected")  # fmt: skip
            if any(f.amount != -APP_FEE_MICROS for f in fees):
                found.append(f"{s.tenant}: a month-end fee at the wrong amount")
    return found


def _alert(mail: Any) -> bool:
    """A low-balance or used-up e-mail (the English subjects)."""
    subject = str(mail["Subject"])
    return "Low credits" in subject or "used all its credits" in subject


def _read_mails(mailbox: Path) -> list[Any]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(mailbox.glob("*.eml"))]


def _crossings(amounts: list[int], thresholds: tuple[int, ...] = (100 * 1_000_000, 0)) -> int:
    """Downward crossings of the thresholds by a balance that starts at 0 and moves by `amounts`, by the documented
    rule: below a positive threshold is strictly less, below 0 is 0 or less."""

    def below(balance: int, threshold: int) -> bool:
        return balance < threshold if threshold > 0 else balance <= threshold

    balance, count = 0, 0
    for amount in amounts:
        after = balance + amount
        count += sum(1 for t in thresholds if not below(balance, t) and below(after, t))
        balance = after
    return count


async def _audit_alerts(ops: Ops, plan: MoneyPlan, mailbox: Path, receiver: Receiver) -> list[str]:
    found: list[str] = []
    mails = await asyncio.to_thread(_read_mails, mailbox)
    by_tenant: dict[str, set[str]] = {}
    every_tenant = set(
        plan.topup_tenants + plan.auto_tenants + plan.alert_tenants + [s.tenant for s in plan.subscribers]
    )
    for mail in mails:
        subject, to = str(mail["Subject"]), str(mail["To"])
        named = [t for t in every_tenant if t in subject]
        if named and not any(to == a for t in named for a in admins(t)):
            found.append(f"an e-mail to {to} about {named[0]}: not one of its admins")
    async with ops.wallet_store() as store:
        for tenant in plan.alert_tenants:
            entries = sorted(await store.ledger(tenant, limit=200_000), key=lambda e: e.sequence)
            crossings = _crossings([e.amount for e in entries])
            plan.checked["threshold crossings"] += crossings
            for admin in admins(tenant):
                ids = {str(m["Message-ID"]) for m in mails if str(m["To"]) == admin and _alert(m)}
                plan.checked["alert e-mails"] += len(ids)
                if len(ids) != crossings:
                    found.append(f"{tenant}: {admin} got {len(ids)} alert e-mails for {crossings} crossings")
            to_member = [m for m in mails if str(m["To"]) == plan.members.get(tenant)]
            if to_member:
                found.append(f"{tenant}: {len(to_member)} e-mails to a member")
            by_tenant[tenant] = set()
    # webhooks: signed, the tenant's own, every crossing of the alert tenants at least once
    async with ops.wallet_store() as store:
        for headers, body in list(receiver.received):
            try:
                verify(body, headers.get("Creditflow-Signature"), plan.webhook_secret, tolerance=24 * 3600)
            except WebhookSignatureError as exc:
                found.append(f"a webhook failed its signature check: {exc}")
                continue
            event = json.loads(body)
            if event["tenant_id"] not in plan.alert_tenants or event["data"]["tenant_id"] != event["tenant_id"]:
                found.append(f"a webhook for {event['tenant_id']}: not a tenant the endpoint asked for")
                continue
            by_tenant[event["tenant_id"]].add(event["id"])
            plan.checked["webhooks verified"] += 1
        for tenant in plan.alert_tenants:
            markers = await store.markers(tenant, "usage:")
            crossed = {x["event"]["event_id"] for m in markers.values() for x in m.events
                       if x["event"].get("kind") == "threshold.crossed"}  # fmt: skip
            if crossed - by_tenant[tenant]:
                found.append(
                    f"{tenant}: {len(crossed - by_tenant[tenant])} threshold crossings never reached the webhook"
                )
    return found
