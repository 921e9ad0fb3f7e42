"""A service's own copy of the tenant directory, projected from the compacted `tenants` topic.

Each service keeps the copy in its own database; a redelivered or older revision never overwrites a
newer one.
"""

from collections import OrderedDict
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from schemas.tenants import TenantUpserted

from .idempotency import is_duplicate_key

COLLECTION = "tenant_directory"


class TenantDirectory:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, keep: int = 10_000) -> None:
        """`keep`: how many tenants to keep as validated, by revision. A revision is stored once and never changed
        (a newer one replaces it), so a tenant read again at the revision kept is the one kept, and is not
        validated again (metering reads its batch's tenants every batch: validating them was 4% of its CPU)."""
        self._tenants = db[COLLECTION]
        self._validated: OrderedDict[str, TenantUpserted] = OrderedDict()
        self._keep = keep

    def _tenant(self, doc: dict[str, Any]) -> TenantUpserted:
        tenant_id = doc["_id"]
        kept = self._validated.get(tenant_id)
        if kept is not None and kept.revision == doc.get("revision"):
            self._validated.move_to_end(tenant_id)
            return kept
        tenant = self._validated[tenant_id] = TenantUpserted.model_validate(doc["tenant"])
        self._validated.move_to_end(tenant_id)
        if len(self._validated) > self._keep:
            self._validated.popitem(last=False)
        return tenant

    async def upsert(self, tenant: TenantUpserted) -> bool:
        """Store `tenant` unless a newer revision is already there. Returns whether it was stored."""
        doc = {"revision": tenant.revision, "tenant": tenant.model_dump(mode="json")}
        try:
            result = await self._tenants.update_one(
                {"_id": tenant.tenant_id, "revision": {"$lt": tenant.revision}}, {"$set": doc}, upsert=True
            )
        except Exception as exc:
            if is_duplicate_key(exc):  # a newer or equal revision holds the _id
                return False
            raise
        return result.modified_count > 0 or result.upserted_id is not None

    async def get(self, tenant_id: str) -> TenantUpserted | None:
        doc = await self._tenants.find_one({"_id": tenant_id})
        return self._tenant(doc) if doc else None

    async def get_many(self, tenant_ids: list[str]) -> dict[str, TenantUpserted]:
        """The known tenants among `tenant_ids`, in one read (a batch of events asks once, not once per tenant)."""
        found = self._tenants.find({"_id": {"$in": list(dict.fromkeys(tenant_ids))}})
        return {doc["_id"]: self._tenant(doc) async for doc in found}

    async def admins(self, tenant_id: str) -> frozenset[str] | None:
        tenant = await self.get(tenant_id)
        return None if tenant is None else frozenset(m.email for m in tenant.admins())
