"""MongoDB client factory (PyMongo's own async API) and the transaction helper."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from .config import Settings

__all__ = ["AsyncMongoClient", "Document", "ids_of_tenant", "in_transaction", "make_client"]

T = TypeVar("T")
Document = dict[str, Any]


def make_client(settings: Settings, *, app_name: str) -> AsyncMongoClient[Document]:
    if settings.mongodb_uri is None:
        raise RuntimeError("MONGODB_URI is not set")
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=10_000,
        retryWrites=True,
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
