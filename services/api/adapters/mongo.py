"""The API's own data, in its own database: API keys (hashed), idempotency records, the commands it sent (so
their outcome can be asked for), and portal sessions. Nothing here belongs to another service."""

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key

from ..domain.keys import ApiKey

Document = dict[str, Any]
IDEMPOTENCY_TTL = timedelta(hours=24)


def _key_from(doc: Document) -> ApiKey:
    return ApiKey(
        key_id=doc["_id"],
        kind=doc["kind"],
        secret_hash=doc["secret_hash"],
        name=doc["name"],
        created_at=doc["created_at"],
        tenant_id=doc.get("tenant_id"),
        scopes=tuple(doc.get("scopes", ())),
        revoked_at=doc.get("revoked_at"),
    )


class ApiStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._keys = db["api_keys"]
        self._idempotency = db["idempotency"]
        self._commands = db["commands"]
        self._sessions = db["portal_sessions"]

    async def create_indexes(self) -> None:
        await self._idempotency.create_index(
            [("created_at", ASCENDING)], expireAfterSeconds=int(IDEMPOTENCY_TTL.total_seconds())
        )
        await self._sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self._sessions.create_index([("token_hash", ASCENDING)], unique=True, sparse=True)
        await self._keys.create_index([("tenant_id", ASCENDING)])

    # -- keys ---------------------------------------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        await self._keys.insert_one(
            {
                "_id": key.key_id,
                "kind": key.kind,
                "secret_hash": key.secret_hash,
                "name": key.name,
                "created_at": key.created_at,
                "tenant_id": key.tenant_id,
                "scopes": list(key.scopes),
                "revoked_at": None,
            }
        )

    async def key(self, key_id: str) -> ApiKey | None:
        doc = await self._keys.find_one({"_id": key_id})
        return _key_from(doc) if doc else None

    async def keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        query = {} if tenant_id is None else {"tenant_id": tenant_id}
        return [_key_from(d) async for d in self._keys.find(query).sort("created_at", ASCENDING)]

    async def revoke(self, key_id: str, at: datetime) -> bool:
        result = await self._keys.update_one({"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}})
        return result.modified_count == 1

    # -- idempotency (Stripe's rules: same key and request, same answer; same key, another request, 409) ----

    async def claim(self, scope: str, key: str, fingerprint: str, at: datetime) -> Document | None:
        """Claim `key` for a request; None if claimed now, else the record already there."""
        try:
            await self._idempotency.insert_one(
                {"_id": f"{scope}|{key}", "fingerprint": fingerprint, "created_at": at, "response": None}
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return await self._idempotency.find_one({"_id": f"{scope}|{key}"})
        return None

    async def complete(self, scope: str, key: str, status: int, body: Any) -> None:
        await self._idempotency.update_one(
            {"_id": f"{scope}|{key}"}, {"$set": {"response": {"status": status, "body": body}}}
        )

    async def release(self, scope: str, key: str) -> None:
        """A request that failed before it did anything may be tried again with the same key."""
        await self._idempotency.delete_one({"_id": f"{scope}|{key}", "response": None})

    # -- commands sent ------------------------------------------------------------------------------------

    async def record_command(self, command_id: str, tenant_id: str, service: str, kind: str, at: datetime) -> None:
        try:
            await self._commands.insert_one(
                {"_id": command_id, "tenant_id": tenant_id, "service": service, "kind": kind, "created_at": at}
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise

    async def command(self, command_id: str) -> Document | None:
        return await self._commands.find_one({"_id": command_id})

    # -- portal sessions ----------------------------------------------------------------------------------

    async def add_session(self, doc: Document) -> None:
        await self._sessions.insert_one(doc)

    async def redeem(self, token_hash: str, at: datetime, session_hash: str, expires_at: datetime) -> Document | None:
        """Exchange a one-time token for a session: only once, only before the link expires."""
        return await self._sessions.find_one_and_update(
            {"token_hash": token_hash, "redeemed_at": None, "link_expires_at": {"$gt": at}},
            {
                "$set": {"redeemed_at": at, "session_hash": session_hash, "expires_at": expires_at},
                "$unset": {"token_hash": ""},
            },
        )

    async def session(self, session_hash: str, at: datetime) -> Document | None:
        return await self._sessions.find_one({"session_hash": session_hash, "expires_at": {"$gt": at}})

    async def end_session(self, session_hash: str) -> None:
        await self._sessions.delete_one({"session_hash": session_hash})
