"""A service's copy of the tenant directory on the real server: the newest revision wins, and a tenant read again
at the revision it keeps is not validated again."""

from datetime import UTC, datetime

import pytest

from schemas.tenants import Member, TenantUpserted
from shared.directory import TenantDirectory

pytestmark = pytest.mark.integration
AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _tenant(tenant_id: str, revision: int, name: str, admin: str) -> TenantUpserted:
    members = (Member(email=admin, role="admin"),)
    return TenantUpserted(tenant_id=tenant_id, revision=revision, name=name, members=members, updated_at=AT)


async def test_a_tenant_is_read_at_its_newest_revision_and_read_again_it_is_the_one_kept(ops, tenant_id) -> None:
    db = ops.mongo[f"directory-{tenant_id}"]
    directory, other_worker = TenantDirectory(db), TenantDirectory(db)
    try:
        assert await directory.upsert(_tenant(tenant_id, 1, "Acme", "ann@acme.example"))
        first = (await directory.get_many([tenant_id]))[tenant_id]
        assert (await directory.get_many([tenant_id, "nobody"]))[tenant_id] is first, "kept: not validated again"

        assert await other_worker.upsert(_tenant(tenant_id, 2, "Acme SA", "bob@acme.example"))  # another copy
        assert not await other_worker.upsert(_tenant(tenant_id, 1, "Acme", "ann@acme.example"))  # older: ignored

        newer = (await directory.get_many([tenant_id]))[tenant_id]
        assert (newer.revision, newer.name) == (2, "Acme SA"), "the stored revision, not the one kept"
        assert await directory.get(tenant_id) is newer
        assert await directory.admins(tenant_id) == frozenset({"bob@acme.example"})
    finally:
        await ops.mongo.drop_database(db.name)


async def test_a_directory_keeps_at_most_its_bound_and_reads_the_others_again(ops, tenant_id) -> None:
    db = ops.mongo[f"directory-{tenant_id}"]
    directory = TenantDirectory(db, keep=2)
    ids = [f"{tenant_id}-{i}" for i in range(3)]
    try:
        for i, one in enumerate(ids):
            await directory.upsert(_tenant(one, 1, f"Tenant {i}", f"admin{i}@example.com"))
        read = {t: await directory.get(t) for t in ids}  # in this order: the last two are kept
        again = await directory.get_many(ids[1:])
        first = await directory.get(ids[0])

        assert all(again[t] is read[t] for t in ids[1:]), "kept: not validated again"
        assert first is not None and first is not read[ids[0]] and first == read[ids[0]], "let go: read again"
    finally:
        await ops.mongo.drop_database(db.name)
