"""Prometheus metrics of one worker process, served on its health port at `GET /metrics`.

Messages received, processed and failed per topic and handler, and handler latency histograms, come from
FastStream's own Kafka middleware (`faststream_*`); creditflow adds what only it knows: dead letters by
reason, the wallet's outcomes by kind, e-mails sent and failed, invoice events, and the database commands
and documents written the worker asked for.
"""

from collections.abc import Callable, Iterator
from typing import Any

from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

DEAD_LETTERS = Counter(
    "creditflow_dead_letters", "Messages sent to a dead-letter topic, by service and reason.", ["service", "reason"]
)
WALLET_OUTCOMES = Counter(
    "creditflow_wallet_outcomes",
    "Wallet events of newly applied commands, by kind (entry.recorded, debit.rejected, threshold.crossed, ...).",
    ["kind"],
)

EMAILS = Counter(
    "creditflow_emails",
    "E-mails handed to the SMTP server (sent) or not (failed: retried later, or given up).",
    ["outcome"],
)
WEBHOOKS = Counter(
    "creditflow_webhook_attempts",
    "Webhook delivery attempts, by outcome: delivered (2xx), retrying (any other answer or no answer), failed "
    "(given up after the retry window), and endpoints disabled for failing.",
    ["outcome"],
)
INVOICES = Counter(
    "creditflow_invoices", "Invoice events published, by kind (invoice.issued, invoice.paid, ...).", ["kind"]
)


def kafka_middleware(service: str) -> KafkaPrometheusMiddleware:
    return KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service)


class DatabaseUse(Collector):
    """The worker's database commands and documents written (`shared.mongo.CommandCounter`), as counters."""

    def __init__(self, service: str, snapshot: Callable[[], dict[str, dict[str, int]]]) -> None:
        self._service, self._snapshot = service, snapshot

    def collect(self) -> Iterator[CounterMetricFamily]:
        use = self._snapshot()
        commands = CounterMetricFamily(
            "creditflow_database_commands", "Commands sent to MongoDB (round trips).", labels=["service", "command"]
        )
        for name, count in sorted(use["round_trips"].items()):
            commands.add_metric([self._service, name], count)
        written = CounterMetricFamily(
            "creditflow_database_documents_written",
            "Documents inserted, updated or deleted.",
            labels=["service", "collection"],
        )
        for name, count in sorted(use["documents_written"].items()):
            written.add_metric([self._service, name], count)
        yield commands
        yield written


class ConsumerLag(Collector):
    """`creditflow_consumer_lag{group,topic,partition}`: the last lag read (`shared.lag.consumer_lag`), and
    `creditflow_consumer_lag_age_seconds`, how old that reading is (alert on it too: a stale reading hides a lag)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.read_at: float | None = None

    def update(self, rows: list[dict[str, Any]], at: float) -> None:
        self.rows, self.read_at = rows, at

    def collect(self) -> Iterator[GaugeMetricFamily]:
        import time

        lag = GaugeMetricFamily(
            "creditflow_consumer_lag",
            "Messages a consumer group has not committed yet, per topic and partition (end offset - committed).",
            labels=["group", "topic", "partition"],
        )
        for row in self.rows:
            lag.add_metric([row["group"], row["topic"], str(row["partition"])], row["lag"])
        yield lag
        if self.read_at is not None:
            yield GaugeMetricFamily(
                "creditflow_consumer_lag_age_seconds",
                "Seconds since the lag was read.",
                value=time.time() - self.read_at,
            )


_database: DatabaseUse | None = None


def watch_database(service: str, snapshot: Callable[[], dict[str, dict[str, int]]]) -> None:
    """Expose this process's database use (one worker per process; a second call replaces the first)."""
    global _database  # noqa: PLW0603 - one collector per process
    if _database is not None:
        REGISTRY.unregister(_database)
    _database = DatabaseUse(service, snapshot)
    REGISTRY.register(_database)


def exposition(_: Any = None) -> tuple[bytes, str]:
    """The text format Prometheus scrapes, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
