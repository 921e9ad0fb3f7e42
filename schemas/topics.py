"""Topic names and their layout. Every tenant-scoped topic is keyed by tenant id."""

from dataclasses import dataclass

USAGE_EVENTS = "usage.events"
USAGE_DLQ = "usage.dlq"
METERING_PRICES = "metering.prices"
WALLET_COMMANDS = "wallet.commands"
WALLET_EVENTS = "wallet.events"
WALLET_REJECTIONS = "wallet.rejections"
"""The `debit.rejected` events of `wallet.events` again, alone: for a consumer that needs only those (metering
counts them in the usage report) and should not read the event every debit makes."""
WALLET_SPEND_STATE = "wallet.spend-state"
WALLET_DLQ = "wallet.dlq"
PAYMENTS_REQUESTS = "payments.requests"
PAYMENTS_EVENTS = "payments.events"
PAYMENTS_DLQ = "payments.dlq"
SUBSCRIPTIONS_COMMANDS = "subscriptions.commands"
SUBSCRIPTIONS_EVENTS = "subscriptions.events"
SUBSCRIPTIONS_DLQ = "subscriptions.dlq"
SUBSCRIPTIONS_CATALOGUE = "subscriptions.catalogue"
SCHEDULER_TICKS = "scheduler.ticks"
TENANTS = "tenants"
NOTIFICATIONS_DLQ = "notifications.dlq"
WEBHOOKS_COMMANDS = "webhooks.commands"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


DEFAULT_PARTITIONS = 6

ALL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(USAGE_EVENTS, DEFAULT_PARTITIONS),
    TopicSpec(USAGE_DLQ, DEFAULT_PARTITIONS),
    TopicSpec(METERING_PRICES, DEFAULT_PARTITIONS, compacted=True),
    TopicSpec(WALLET_COMMANDS, DEFAULT_PARTITIONS),
    TopicSpec(WALLET_EVENTS, DEFAULT_PARTITIONS),
    TopicSpec(WALLET_REJECTIONS, DEFAULT_PARTITIONS),
    TopicSpec(WALLET_SPEND_STATE, DEFAULT_PARTITIONS, compacted=True),
    TopicSpec(WALLET_DLQ, DEFAULT_PARTITIONS),
    TopicSpec(PAYMENTS_REQUESTS, DEFAULT_PARTITIONS),
    TopicSpec(PAYMENTS_EVENTS, DEFAULT_PARTITIONS),
    TopicSpec(PAYMENTS_DLQ, DEFAULT_PARTITIONS),
    TopicSpec(SUBSCRIPTIONS_COMMANDS, DEFAULT_PARTITIONS),
    TopicSpec(SUBSCRIPTIONS_EVENTS, DEFAULT_PARTITIONS),
    TopicSpec(SUBSCRIPTIONS_DLQ, DEFAULT_PARTITIONS),
    TopicSpec(SUBSCRIPTIONS_CATALOGUE, 1, compacted=True),
    TopicSpec(SCHEDULER_TICKS, 1),
    TopicSpec(TENANTS, DEFAULT_PARTITIONS, compacted=True),
    TopicSpec(NOTIFICATIONS_DLQ, DEFAULT_PARTITIONS),
    TopicSpec(WEBHOOKS_COMMANDS, 1),
)
