"""What the CLI does, as plain async functions (the demo and the tests use them too).

Commands that change state are published on Kafka like any producer would; reads go to the owning
service's read model in MongoDB.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer

from schemas import topics
from schemas import wallet as wire
from schemas.common import WireModel
from schemas.prices import PriceSet, price_key
from schemas.tenants import Language, Member, TenantUpserted
from services.metering.adapters.mongo import MongoUsageStore
from services.metering.adapters.prices import MongoPriceStore
from services.notifications.adapters.mongo import MongoNotificationLog
from services.subscriptions.adapters.mongo import MongoSubscriptionStore
from services.wallet.adapters.mongo import MongoWalletStore
from services.wallet.domain.reconcile import problems
from shared.config import Settings
from shared.directory import TenantDirectory
from shared.kafka import admin_kwargs
from shared.mongo import make_client

if TYPE_CHECKING:
    from .webhooks import Webhooks

DIRECTORY_READERS = ("metering", "wallet", "notifications", "subscriptions")


@dataclass
class Ops:
    """The application layer: what the CLI and the HTTP API do, over one producer and one MongoDB client."""

    settings: Settings
    producer: AIOKafkaProducer
    mongo: Any

    def _client(self) -> Any:
        """A client of its own, for a caller that closes it (tests, the proof scripts)."""
        return make_client(self.settings, app_name="creditflow-cli")

    async def publish(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        await self.producer.send_and_wait(topic, json.dumps(payload).encode(), key=key.encode())

    async def create_tenant(
        self,
        tenant_id: str,
        *,
        name: str | None,
        admins: list[str],
        members: list[str],
        language: Language,
        billing_anchor: date | None = None,
        wait: float = 60.0,
        readers: tuple[str, ...] = DIRECTORY_READERS,
        member_list: list[Member] | None = None,
    ) -> TenantUpserted:
        """Publish the tenant (its admins and members, or `member_list` with their languages and names) and wait
        until every worker that needs the directory has it."""
        people = member_list or [Member(email=a, role="admin") for a in admins] + [
            Member(email=m, role="member") for m in members
        ]
        tenant = TenantUpserted(
            tenant_id=tenant_id,
            revision=time.time_ns() // 1000,
            name=name or tenant_id,
            language=language,
            members=tuple(people),
            billing_anchor=billing_anchor,
            updated_at=datetime.now(UTC),
        )
        await self.publish(topics.TENANTS, tenant_id, tenant.model_dump(mode="json"))
        if wait:
            await self.wait_for_tenant(tenant_id, tenant.revision, timeout=wait, readers=readers)
        return tenant

    async def wait_for_tenant(
        self, tenant_id: str, revision: int, *, timeout: float, readers: tuple[str, ...] = DIRECTORY_READERS
    ) -> None:
        """Until every service that needs the directory has this revision of the tenant."""
        client = self.mongo
        deadline = time.monotonic() + timeout
        for service in readers:
            directory = TenantDirectory(client[self.settings.database_name(service)])
            while True:
                tenant = await directory.get(tenant_id)
                if tenant is not None and tenant.revision >= revision:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service} has not seen tenant {tenant_id!r} within {timeout}s")
                await asyncio.sleep(0.1)

    def _base(self, tenant_id: str, prefix: str, command_id: str | None) -> dict[str, Any]:
        return {
            "command_id": command_id or f"{prefix}:{uuid.uuid4()}",
            "tenant_id": tenant_id,
            "issued_at": datetime.now(UTC),
        }

    def _wait(self, wait: float | None) -> float:
        """A caller's wait in seconds, else the configured one (CREDITFLOW_WAIT_SECONDS, 30 s); 0: do not wait."""
        return self.settings.creditflow_wait_seconds if wait is None else wait

    async def send(self, command: WireModel, *, wait: float | None = None) -> dict[str, Any] | None:
        """Publish a wallet command; with `wait`, return what the wallet decided (its events)."""
        tenant_id, command_id = command.tenant_id, command.command_id  # type: ignore[attr-defined]
        await self.publish(topics.WALLET_COMMANDS, tenant_id, command.model_dump(mode="json"))
        wait = self._wait(wait)
        return await self.command_outcome(tenant_id, command_id, timeout=wait) if wait else None

    async def top_up(
        self, tenant_id: str, credits: Decimal, *, by: str, command_id: str | None = None, wait: float | None = None
    ) -> dict[str, Any] | None:
        """Buy credits: the wallet asks the payment provider, and credits them when the payment succeeds.
        With `wait`, returns the events of the request and of the payment outcome."""
        command = wire.TopUp(**self._base(tenant_id, "topup", command_id), credits=credits, requested_by=by)
        wait = self._wait(wait)
        outcome = await self.send(command, wait=wait)
        if outcome is None:
            return None
        for event in list(outcome["events"]):
            if event["kind"] == "topup.requested":
                paid = await self.command_outcome(tenant_id, f"payment:{event['payment_id']}", timeout=wait)
                outcome["events"] += paid["events"]
        return outcome

    async def grant(
        self,
        tenant_id: str,
        credits: Decimal,
        *,
        kind: str,
        expires_at: datetime | None = None,
        priority: int | None = None,
        source: str = "granted by an operator",
        by: str | None = None,
        command_id: str | None = None,
        wait: float | None = None,
    ) -> dict[str, Any] | None:
        command = wire.Grant(
            **self._base(tenant_id, "grant", command_id),
            amount=credits,
            grant_kind=kind,
            expires_at=expires_at,
            priority=priority,
            source=source,
            granted_by=by,
        )
        return await self.send(command, wait=wait)

    async def configure(
        self, tenant_id: str, *, command_id: str | None = None, wait: float | None = None, **settings: Any
    ) -> dict[str, Any] | None:
        return await self.send(wire.Configure(**self._base(tenant_id, "configure", command_id), **settings), wait=wait)

    async def void(self, tenant_id: str, entry_id: str, *, reason: str, by: str | None = None) -> dict[str, Any] | None:
        return await self.send(
            wire.Void(**self._base(tenant_id, "void", None), entry_id=entry_id, reason=reason, by=by)
        )

    async def refund(
        self, tenant_id: str, entry_id: str, credits: Decimal, *, reason: str, by: str | None = None
    ) -> dict[str, Any] | None:
        command = wire.Refund(
            **self._base(tenant_id, "refund", None), entry_id=entry_id, amount=credits, reason=reason, by=by
        )
        return await self.send(command)

    async def adjust(
        self, tenant_id: str, credits: Decimal, *, reason: str, by: str | None = None
    ) -> dict[str, Any] | None:
        command = wire.Adjustment(**self._base(tenant_id, "adjustment", None), amount=credits, reason=reason, by=by)
        return await self.send(command)

    async def set_price(self, change: PriceSet, *, wait: float | None = None) -> None:
        """Publish a price version; with `wait`, until metering has stored it."""
        await self.publish(topics.METERING_PRICES, price_key(change), change.model_dump(mode="json"))
        wait = self._wait(wait)
        if not wait:
            return
        client = self.mongo
        prices = client[self.settings.database_name("metering")]["prices"]
        deadline = time.monotonic() + wait
        while (doc := await prices.find_one({"_id": price_key(change)})) is None or doc["change"][
            "change_id"
        ] != change.change_id:
            if time.monotonic() > deadline:
                raise TimeoutError(f"metering has not stored price change {change.change_id} within {wait}s")
            await asyncio.sleep(0.1)

    @asynccontextmanager
    async def price_store(self) -> AsyncIterator[MongoPriceStore]:
        client = self.mongo
        yield MongoPriceStore(client[self.settings.database_name("metering")])

    async def command_outcome(self, tenant_id: str, command_id: str, *, timeout: float) -> dict[str, Any]:
        """The wallet events a command produced, once the wallet has applied it."""
        store = self._wallet_store()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            marker = await store.marker(tenant_id, command_id)
            if marker is not None:
                events = [m["event"] for m in marker.events if m["topic"] == topics.WALLET_EVENTS]
                return {"command_id": command_id, "events": events}
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the wallet has not applied {command_id} within {timeout}s")

    async def reconcile(self, tenant_id: str | None = None) -> dict[str, list[str]]:
        """Every tenant's (or one tenant's) invariant problems: balance == entries == buckets, floor held."""
        async with self.wallet_store() as store:
            tenant_ids = [tenant_id] if tenant_id else await store.tenant_ids()
            report: dict[str, list[str]] = {}
            for tenant in tenant_ids:
                wallet = await store.wallet(tenant)
                report[tenant] = problems(wallet, *await store.sum_of_entries(tenant))
            return report

    async def send_subscription(self, command: WireModel, *, wait: float | None = None) -> dict[str, Any] | None:
        """Publish a subscription command; with `wait`, return the subscription events it caused."""
        tenant_id, command_id = command.tenant_id, command.command_id  # type: ignore[attr-defined]
        await self.publish(topics.SUBSCRIPTIONS_COMMANDS, tenant_id, command.model_dump(mode="json"))
        wait = self._wait(wait)
        if not wait:
            return None
        client = self.mongo
        db = client[self.settings.database_name("subscriptions")]
        deadline = time.monotonic() + wait
        while (marker := await db["applied"].find_one({"_id": f"{tenant_id}|{command_id}"})) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"subscriptions has not applied {command_id} within {wait}s")
            await asyncio.sleep(0.1)
        found = [d async for d in db["outbox"].find({"_id": {"$in": marker["message_ids"]}})]
        found.sort(key=lambda d: marker["message_ids"].index(d["_id"]))
        events = [d["payload"] for d in found if d["topic"] == topics.SUBSCRIPTIONS_EVENTS]
        return {"command_id": command_id, "events": events}

    async def run_scheduler_once(self, now: datetime, *, holder: str = "creditflow-cli") -> list[str]:
        """What the scheduler does every minute, once, at `now` (for operators and tests with a fake clock)."""
        from services.scheduler.adapters.mongo import MongoLease
        from services.scheduler.app import run_once
        from shared.kafka import make_broker

        broker = make_broker(self.settings, client_id="creditflow-cli-scheduler")
        client = self.mongo
        await broker.start()
        try:
            lease = MongoLease(client[self.settings.database_name("scheduler")])
            published = await run_once(broker, lease, holder, now)
            await lease.release(holder)
            return published
        finally:
            await broker.stop()

    async def command_status(self, tenant_id: str, command_id: str, service: str) -> dict[str, Any]:
        """Where a command stands, without waiting: `pending`, `processing` (a purchase waiting for its payment),
        `applied`, `refused` or `rejected` (with the reason code the events carry), or `failed` (a declined
        payment); with the events it caused."""
        from .views import command_status

        if service == "webhooks":
            applied = await self.webhooks._store().applied(command_id)
            if applied is None:
                return command_status(command_id, None)
            return {
                "command_id": command_id,
                "status": applied["status"],
                "reason": applied.get("reason"),
                "detail": applied.get("detail"),
                "events": [],
            }
        db = self.mongo[self.settings.database_name(service)]
        if service == "wallet":
            store = self._wallet_store()
            marker = await store.marker(tenant_id, command_id)
            if marker is None:
                return command_status(command_id, None)
            events = [m["event"] for m in marker.events if m["topic"] == topics.WALLET_EVENTS]
            for event in list(events):
                if event["kind"] == "topup.requested":
                    paid = await store.marker(tenant_id, f"payment:{event['payment_id']}")
                    if paid is None:
                        return command_status(command_id, events, processing=True)
                    events += [m["event"] for m in paid.events if m["topic"] == topics.WALLET_EVENTS]
            return command_status(command_id, events)
        marker = await db["applied"].find_one({"_id": f"{tenant_id}|{command_id}"})
        if marker is None:
            return command_status(command_id, None)
        found = [d async for d in db["outbox"].find({"_id": {"$in": marker["message_ids"]}})]
        found.sort(key=lambda d: marker["message_ids"].index(d["_id"]))
        return command_status(command_id, [d["payload"] for d in found if d["topic"] == topics.SUBSCRIPTIONS_EVENTS])

    async def wait_status(self, tenant_id: str, command_id: str, service: str, *, wait: float) -> dict[str, Any]:
        """`command_status`, held up to `wait` seconds until the outcome is known."""
        deadline = time.monotonic() + wait
        while True:
            status = await self.command_status(tenant_id, command_id, service)
            if status["status"] not in ("pending", "processing") or time.monotonic() >= deadline:
                return status
            await asyncio.sleep(0.05)

    async def tenant(self, tenant_id: str, service: str = "wallet") -> TenantUpserted | None:
        """The tenant as `service`'s copy of the directory has it (None: no such tenant)."""
        client = self.mongo
        return await TenantDirectory(client[self.settings.database_name(service)]).get(tenant_id)

    @property
    def webhooks(self) -> "Webhooks":
        """Webhook endpoints, their deliveries and replays (`creditflow.webhooks`)."""
        from .webhooks import Webhooks

        return Webhooks(self)

    def api_store(self) -> Any:
        from services.api.adapters.mongo import ApiStore

        return ApiStore(self.mongo[self.settings.database_name("api")])

    async def create_api_key(
        self, kind: str, *, name: str, tenant_id: str | None = None, scopes: tuple[str, ...] = ()
    ) -> tuple[Any, str]:
        """A new key: (its record, the whole key, to show once). Only its hash is stored."""
        from services.api.domain.keys import ApiKey, hash_secret, new_key

        key_id, secret, whole = new_key(kind)  # type: ignore[arg-type]
        key = ApiKey(key_id, kind, hash_secret(secret), name, datetime.now(UTC), tenant_id, scopes)  # type: ignore[arg-type]
        store = self.api_store()
        await store.create_indexes()
        await store.add_key(key)
        return key, whole

    async def preview(self, command: Any) -> dict[str, Any]:
        """What a subscription command would do today, decided by the subscription rules themselves on the
        stored account, without applying it: refused (with the reason) or the invoices it would issue."""
        from services.subscriptions.domain.catalogue import catalogue_from
        from services.subscriptions.domain.events import Refused
        from services.subscriptions.domain.rules import decide

        async with self.subscription_store() as store:
            account, document = await store.account(command.tenant_id), await store.catalogue()
        if document is None:
            return {"refused": "no_catalogue", "detail": "the subscriptions service has not loaded its catalogue"}
        admins = {str(command.by).lower()} if command.by else set()
        outcome = decide(
            account,
            command,
            today=command.issued_at.date(),
            catalogue=catalogue_from(document),
            admins=frozenset(admins),
        )
        refused = next((e for e in outcome.effects if isinstance(e, Refused)), None)
        if refused is not None:
            return {"refused": refused.reason, "detail": refused.detail}
        return {
            "refused": None,
            "invoices": [
                {
                    "lines": [(line.description, line.amount) for line in i.lines],
                    "subtotal": i.subtotal,
                    "vat": i.vat,
                    "total": i.total,
                }
                for i in outcome.invoices
            ],
        }

    async def usage_view(self, tenant_id: str, period: str | None, language: str) -> dict[str, Any]:
        """A billing period's usage (the current one, or the one starting on `period`): the metering report per
        meter, the periods there are, and the credits charged per day and meter as an SVG chart."""
        from datetime import date as Date

        from services.metering.domain.model import meter_name
        from services.metering.domain.rules import billing_period
        from services.wallet.ports import LedgerQuery

        from .usage_chart import chart_svg, per_day

        tenant = await self.tenant(tenant_id, "metering")
        anchor = tenant.billing_anchor if tenant else None
        at = datetime.combine(Date.fromisoformat(period), datetime.min.time(), tzinfo=UTC) if period else None
        current = billing_period(at or datetime.now(UTC), anchor)
        async with self.usage_store() as store:
            every = await store.usage(tenant_id)
        report = [{**r, "name": meter_name(r["meter"], language)} for r in every if r["period"] == current.key]
        periods = sorted({r["period"] for r in every} | {current.key}, reverse=True)
        rows = await self.ledger(
            tenant_id, limit=10_000, query=LedgerQuery(since=current.start, until=current.end), language=language
        )
        first, last = current.start.date(), (current.end - timedelta(days=1)).date()
        days, series = per_day(rows, first, last)  # the whole period: the days to come stay empty
        title = "Crédits dépensés par jour" if language == "fr" else "Credits spent per day"
        unit = "crédits" if language == "fr" else "credits"
        return {
            "period": current.key,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "periods": periods,
            "report": report,
            "chart": chart_svg(days, series, title=title, unit=unit),
        }

    async def tenants(self, *, limit: int, after: str | None = None) -> list[TenantUpserted]:
        """The tenants the wallet's directory knows, by id, after `after` (a page's cursor)."""
        query: dict[str, Any] = {} if after is None else {"_id": {"$gt": after}}
        found = self.mongo[self.settings.database_name("wallet")]["tenant_directory"].find(query)
        return [TenantUpserted.model_validate(d["tenant"]) async for d in found.sort("_id", 1).limit(limit)]

    async def plan(self, tenant_id: str) -> dict[str, Any] | None:
        """The subscription read model as plain data (`views.plan_view`); None for an unknown tenant."""
        from services.subscriptions.domain.catalogue import catalogue_from

        from .views import plan_view

        if await self.tenant(tenant_id, "subscriptions") is None:
            return None
        async with self.subscription_store() as store:
            account, document = await store.account(tenant_id), await store.catalogue()
        return plan_view(account, catalogue_from(document) if document else None)

    async def ledger(
        self, tenant_id: str, *, limit: int, skip: int = 0, query: Any = None, language: str | None = None
    ) -> list[dict[str, Any]]:
        """Ledger rows, newest first, each with its description in `language` (default: the tenant's)."""
        from .views import ledger_row

        if language is None:
            tenant = await self.tenant(tenant_id)
            language = tenant.language if tenant else "fr"
        async with self.wallet_store() as store:
            entries = await store.ledger(tenant_id, limit=limit, skip=skip, query=query)
        return [ledger_row(e, language) for e in entries]  # type: ignore[arg-type]

    @asynccontextmanager
    async def subscription_store(self) -> AsyncIterator[MongoSubscriptionStore]:
        client = self.mongo
        yield MongoSubscriptionStore(client, client[self.settings.database_name("subscriptions")])

    @asynccontextmanager
    async def wallet_store(self) -> AsyncIterator[MongoWalletStore]:
        yield self._wallet_store()

    def _wallet_store(self) -> MongoWalletStore:
        client = self.mongo
        return MongoWalletStore(client, client[self.settings.database_name("wallet")])

    @asynccontextmanager
    async def usage_store(self, database: str | None = None) -> AsyncIterator[MongoUsageStore]:
        """The metering worker's usage store, or (`database`) one of the same shape elsewhere, for tests."""
        client = self.mongo
        yield MongoUsageStore(
            client, client[database or self.settings.database_name("metering")], dedup_window=timedelta(days=35)
        )

    @asynccontextmanager
    async def notification_log(self, database: str | None = None) -> AsyncIterator[MongoNotificationLog]:
        """The notifications worker's log, or (`database`) one of the same shape elsewhere, for tests."""
        client = self.mongo
        yield MongoNotificationLog(client[database or self.settings.database_name("notifications")])


@asynccontextmanager
async def connect(settings: Settings, *, app_name: str = "creditflow-cli") -> AsyncIterator[Ops]:
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False)
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    mongo = make_client(settings, app_name=app_name)
    try:
        yield Ops(settings, producer, mongo)
    finally:
        await mongo.close()
        await producer.stop()
