"""MongoDB client factory (PyMongo's own async API) and the transaction helper."""

import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from .config import Settings

__all__ = ["AsyncMongoClient", "CommandCounter", "Document", "ids_of_tenant", "in_transaction", "make_client"]

T = TypeVar("T")
_MONTHLY = re.compile(r"_\d{4}_\d{2}$")
Document = dict[str, Any]


class CommandCounter(monitoring.CommandListener):
    """What a process asks of the database: commands sent (round trips) by name, and documents written
    (inserted, updated or deleted, as the commands list them). Read by `make bench` through a worker's health
    endpoint; counting is a few additions per command, not per document."""

    WRITES: ClassVar[dict[str, str]] = {"insert": "documents", "update": "updates", "delete": "deletes"}

    def __init__(self, *, keep_reads: int = 0) -> None:
        """`keep_reads`: remember the collections of the last that many `find`s (for tests)."""
        self.round_trips: Counter[str] = Counter()
        self.written: Counter[str] = Counter()
        self.collections_read: deque[str] = deque(maxlen=keep_reads or 1)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        self.round_trips[name] += 1
        if name == "find":
            self.collections_read.append(str(event.command.get("find", "")))
        if (field := self.WRITES.get(name)) is not None:
            collection = _MONTHLY.sub("", str(event.command.get(name, "")))  # usage_records_2026_12: one name
            self.written[collection] += len(event.command.get(field, ()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {"round_trips": dict(self.round_trips), "documents_written": dict(self.written)}


def make_client(
    settings: Settings, *, app_name: str, counter: CommandCounter | None = None
) -> AsyncMongoClient[Document]:
    if settings.mongodb_uri is None:
        raise RuntimeError("MONGODB_URI is not set")
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=10_000,
        retryWrites=True,
        event_listeners=[counter] if counter is not None else [],
    )


async def in_transaction(client: AsyncMongoClient[Document], work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work` in one multi-document transaction, retried by the driver on transient errors.

    Everything `work` writes with the session commits together or not at all.
    """
    async with client.start_session() as session:
        return await session.with_transaction(
            work,
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
        )


def ids_of_tenant(tenant_id: str) -> Document:
    """A filter on `_id` for documents whose id is `<tenant>|<rest>` (dedup records, command markers): the `_id`
    index serves it as a range, so these hot collections need no extra index on `tenant_id` (each index is one
    more write per event). The tenant id is matched too, so the range can never reach another tenant."""
    return {"_id": {"$gte": f"{tenant_id}|", "$lt": f"{tenant_id}}}"}, "tenant_id": tenant_id}
