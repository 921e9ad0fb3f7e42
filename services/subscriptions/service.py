"""Subscription use cases: commands, ticks and payment outcomes in; events, invoices, wallet grants and fees,
and payment requests out (through the outbox, see adapters/mongo.py)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from schemas import payments, topics
from schemas import subscriptions as wire
from schemas import wallet as wallet_wire
from schemas.tenants import TenantUpserted
from shared.idempotency import fingerprint

from .adapters.mongo import Message, MongoSubscriptionStore, payment_id_of
from .domain import events as ev
from .domain.catalogue import Catalogue
from .domain.model import Invoice, Subscription
from .domain.rules import Outcome, decide, month_end, on_day


class Directory(Protocol):
    async def get(self, tenant_id: str) -> TenantUpserted | None: ...
    async def admins(self, tenant_id: str) -> frozenset[str] | None: ...


async def _each(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _msg(topic: str, key: str, payload: Any, message_id: str) -> Message:
    body = payload.model_dump(mode="json") if hasattr(payload, "model_dump") else payload
    return {"id": f"{topic}|{message_id}", "topic": topic, "key": key, "payload": body}


def _sub_fields(tenant_id: str, sub: Subscription, catalogue: Catalogue, at: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "occurred_at": at,
        "subscription_id": sub.subscription_id,
        "plan_name": catalogue.plans[sub.plan].name,
    }


def _period(sub: Subscription) -> dict[str, Any]:
    return {"period_start": sub.period_start, "period_last_day": sub.last_day, "renews_on": sub.period_end}


def messages_for(
    tenant_id: str,
    ref: str,
    outcome: Outcome,
    invoices: list[Invoice],
    catalogue: Catalogue,
    at: datetime,
    language: str = "fr",
) -> list[Message]:
    """The wire messages of an outcome. Ids derive from what caused them (`ref`: a command or tick id) or
    from the subscription period, so reapplying the same cause produces the same messages."""
    out: list[Message] = []
    numbered = {i.invoice_id: i for i in invoices}
    seller = catalogue.seller

    def event(model: Any) -> None:
        out.append(_msg(topics.SUBSCRIPTIONS_EVENTS, tenant_id, model, model.event_id))

    for effect in outcome.effects:
        match effect:
            case ev.Started(subscription=sub):
                event(
                    wire.SubscriptionStarted(
                        event_id=f"started:{sub.subscription_id}",
                        seats=sub.seats,
                        interval=sub.interval,
                        **_period(sub),
                        **_sub_fields(tenant_id, sub, catalogue, at),
                    )
                )
            case ev.Renewed(subscription=sub):
                event(
                    wire.SubscriptionRenewed(
                        event_id=f"renewed:{sub.subscription_id}:{sub.period_start}",
                        seats=sub.seats,
                        interval=sub.interval,
                        **_period(sub),
                        **_sub_fields(tenant_id, sub, catalogue, at),
                    )
                )
            case ev.PlanChanged():
                sub = effect.subscription
                event(
                    wire.PlanChanged(
                        event_id=f"plan-changed:{sub.subscription_id}:{ref}",
                        previous_plan_name=catalogue.plans[effect.previous_plan].name,
                        seats=effect.seats,
                        previous_seats=effect.previous_seats,
                        interval=effect.interval,
                        effective_on=effect.effective_on,
                        scheduled=effect.scheduled,
                        **{
                            **_sub_fields(tenant_id, sub, catalogue, at),
                            "plan_name": catalogue.plans[effect.plan].name,
                        },
                    )
                )
            case ev.Refused():
                sub_id = outcome.account.subscription.subscription_id if outcome.account.subscription else "-"
                plan = catalogue.plans[outcome.account.subscription.plan].name if outcome.account.subscription else "-"
                event(
                    wire.ChangeRefused(
                        event_id=f"refused:{tenant_id}:{ref}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        subscription_id=sub_id,
                        plan_name=plan,
                        command_id=ref,
                        reason=effect.reason,
                        detail=effect.detail,
                    )
                )
            case ev.ReminderDue(subscription=sub):
                amount = effect.amount
                event(
                    wire.RenewalUpcoming(
                        event_id=f"renewal-reminder:{sub.subscription_id}:{sub.period_end}:{effect.days_before}",
                        renews_on=sub.period_end,
                        days_before=effect.days_before,
                        amount_minor=amount,
                        **_sub_fields(tenant_id, sub, catalogue, at),
                    )
                )
            case ev.CancellationScheduled(subscription=sub):
                event(
                    wire.CancellationScheduled(
                        event_id=f"cancellation:{sub.subscription_id}:{ref}",
                        last_day_of_access=sub.last_day,
                        **_sub_fields(tenant_id, sub, catalogue, at),
                    )
                )
            case ev.Reactivated(subscription=sub):
                event(
                    wire.SubscriptionReactivated(
                        event_id=f"reactivated:{sub.subscription_id}:{ref}",
                        renews_on=sub.period_end,
                        **_sub_fields(tenant_id, sub, catalogue, at),
                    )
                )
            case ev.Ended(subscription=sub):
                event(
                    wire.SubscriptionEnded(
                        event_id=f"ended:{sub.subscription_id}",
                        last_day_of_access=effect.last_day_of_access,
                        **_sub_fields(tenant_id, sub, catalogue, at),
                    )
                )
            case ev.InvoiceDrafted(invoice=draft):
                invoice = numbered[draft.invoice_id]
                assert invoice.number is not None
                event(
                    wire.InvoiceIssued(
                        event_id=f"invoice-issued:{invoice.invoice_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        subscription_id=invoice.subscription_id,
                        plan_name=invoice.plan_name,
                        invoice_id=invoice.invoice_id,
                        invoice_number=invoice.number,
                        total_minor=invoice.total,
                        issued_on=invoice.issued_on,
                        due_on=invoice.due_on,
                    )
                )
                account = outcome.account
                request = payments.PaymentRequested(
                    payment_id=payment_id_of(invoice),
                    tenant_id=tenant_id,
                    amount_minor=invoice.total,
                    purpose="invoice",
                    invoice_number=invoice.number,
                    requested_by=None,
                    payment_method=account.payment_method.provider_reference if account.payment_method else None,
                    requested_at=at,
                )
                out.append(_msg(topics.PAYMENTS_REQUESTS, tenant_id, request, request.payment_id))
            case ev.AllowanceDue():
                current = outcome.account.subscription
                plan = catalogue.plans[current.plan].name if current else "plan"
                grant = wallet_wire.Grant(
                    command_id=f"allowance:{effect.subscription_id}:{effect.granted_on}",
                    tenant_id=tenant_id,
                    issued_at=at,
                    amount=effect.credits,
                    grant_kind="allowance",
                    expires_at=_midnight(effect.expires_on),
                    source=f"{plan} credits for {effect.granted_on} - {effect.expires_on - timedelta(days=1)}",
                    granted_by="subscriptions",
                    description=_allowance_words(plan, effect.granted_on, effect.expires_on, language),
                )
                out.append(_msg(topics.WALLET_COMMANDS, tenant_id, grant, grant.command_id))
            case ev.FeeDue():
                year, month = (int(x) for x in effect.month.split("-"))
                last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
                fee = wallet_wire.Fee(
                    command_id=f"fee:{tenant_id}:{effect.app_code}:{effect.user.user_id}:{effect.month}",
                    tenant_id=tenant_id,
                    issued_at=at,
                    app=effect.app_code,
                    amount=effect.amount,
                    occurred_at=datetime.combine(last, time(23, 59, 59), tzinfo=UTC),
                    personnel=effect.user.display_name,
                    source=f"{effect.app.name} {effect.month}: {effect.user.user_id}",
                    description=effect.app.fee_description(language),
                )
                out.append(_msg(topics.WALLET_COMMANDS, tenant_id, fee, fee.command_id))
    del seller
    return out


def _allowance_words(plan: str, granted_on: date, expires_on: date, language: str) -> str:
    last = expires_on - timedelta(days=1)
    if language == "en":
        return f"{plan} included credits, {granted_on.isoformat()} to {last.isoformat()}"
    return f"Crédits inclus {plan}, du {granted_on.isoformat()} au {last.isoformat()}"


@dataclass
class SubscriptionService:
    store: MongoSubscriptionStore
    directory: Directory
    catalogue: Catalogue

    async def handle_command(self, command: Any) -> tuple[str, list[Message]]:
        """The business day of a command is the (UTC) day it was issued."""
        at = command.issued_at
        today = at.date()
        admins = await self.directory.admins(command.tenant_id)
        language = await self._language(command.tenant_id)
        catalogue = self.catalogue
        return await self.store.apply(
            command.tenant_id,
            command.command_id,
            fingerprint(command.model_dump(mode="json", exclude={"issued_at"})),
            lambda account: decide(account, command, today=today, catalogue=catalogue, admins=admins),
            lambda outcome, invoices: messages_for(
                command.tenant_id, command.command_id, outcome, invoices, catalogue, at, language
            ),
            invoice_prefix=catalogue.seller.invoice_prefix,
            at=at,
        )

    async def _language(self, tenant_id: str) -> str:
        tenant = await self.directory.get(tenant_id)
        return tenant.language if tenant is not None else "fr"

    async def handle_tick(self, tick: wire.Tick) -> list[Message]:
        """Run a tick for every tenant it concerns, each tenant once per tick id (its marker), then record the
        tick as done. A day tick reads only the tenants with something due by that day (`next_due`): on most days
        that is a few of them, and each goes through its own transaction."""
        if tick.kind == "tick.day":
            tenants: AsyncIterator[str] = self.store.due_tenants(tick.day)
        else:
            tenants = _each(await self.store.tenants_with_apps())
        published = await self._tick_each(tick, tenants)
        await self.store.mark_tick_done(tick.tick_id, at=tick.emitted_at)
        return published

    async def _tick_each(self, tick: wire.Tick, tenants: AsyncIterator[str]) -> list[Message]:
        """Apply `tick` to each of `tenants`, each in its own transaction, once per tick id."""
        catalogue, at = self.catalogue, tick.emitted_at
        published: list[Message] = []
        period = tick.period or tick.day.strftime("%Y-%m")

        def step(account: Any) -> Outcome:
            if tick.kind == "tick.day":
                return on_day(account, tick.day, catalogue)
            return month_end(account, period, catalogue)

        async for tenant_id in tenants:
            language = await self._language(tenant_id)

            def to_messages(
                outcome: Outcome, invoices: list[Invoice], tenant_id: str = tenant_id, language: str = language
            ) -> list[Message]:
                return messages_for(tenant_id, tick.tick_id, outcome, invoices, catalogue, at, language)

            _, messages = await self.store.apply(
                tenant_id,
                f"tick:{tick.tick_id}",
                tick.tick_id,
                step,
                to_messages,
                invoice_prefix=catalogue.seller.invoice_prefix,
                at=at,
            )
            published += messages
        return published

    async def handle_payment(self, event: payments.PaymentSucceeded | payments.PaymentFailed) -> list[Message]:
        paid = isinstance(event, payments.PaymentSucceeded)
        reason = None if isinstance(event, payments.PaymentSucceeded) else event.reason
        at = event.occurred_at

        def to_messages(invoice: Invoice) -> list[Message]:
            assert invoice.number is not None
            common = {
                "tenant_id": invoice.tenant_id,
                "occurred_at": at,
                "subscription_id": invoice.subscription_id,
                "plan_name": invoice.plan_name,
                "invoice_id": invoice.invoice_id,
                "invoice_number": invoice.number,
                "total_minor": invoice.total,
            }
            model: Any = (
                wire.InvoicePaid(event_id=f"invoice-paid:{invoice.invoice_id}", **common)
                if paid
                else wire.InvoicePaymentFailed(
                    event_id=f"invoice-payment-failed:{event.payment_id}", reason=reason or "payment_failed", **common
                )
            )
            return [_msg(topics.SUBSCRIPTIONS_EVENTS, invoice.tenant_id, model, model.event_id)]

        _, messages = await self.store.settle_invoice(
            event.payment_id, event.tenant_id, paid=paid, reason=reason, at=at, to_messages=to_messages
        )
        return messages
