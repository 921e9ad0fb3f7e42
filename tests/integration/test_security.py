"""Security on the real protocols: MongoDB authentication is used when MONGODB_URI carries credentials, and a
change on behalf of a non-admin is refused end to end."""

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from shared.localstack import Server, free_port
from tests.conftest import eventually

pytestmark = pytest.mark.integration
ADMIN = "admin@acme.example"
MEMBER = "member@acme.example"


async def test_with_authentication_on_mongodb_refuses_anonymous_clients_and_serves_the_configured_user(
    tmp_path: Path,
) -> None:
    from shared.config import Settings
    from shared.mongo import make_client

    port = free_port()
    argv = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", str(tmp_path / "db"), "--log-level", "WARNING"]  # fmt: skip
    server = Server("mongodb", argv, port, tmp_path / "secantus.log")
    server.start()
    try:  # provision a user without auth, as the server's documentation says, then restart with --auth
        setup: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            f"mongodb://127.0.0.1:{port}/?directConnection=true"
        )
        await setup.admin.command("createUser", "creditflow", pwd="s3cret-pass", roles=["root"])
        await setup.close()
    finally:
        server.stop()
    server.argv = [*argv, "--auth"]
    server.start()
    try:
        anonymous: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            f"mongodb://127.0.0.1:{port}/?directConnection=true"
        )
        with pytest.raises(OperationFailure):
            await anonymous["creditflow_wallet"]["wallets"].insert_one({"_id": "x"})
        await anonymous.close()

        settings = Settings(
            MONGODB_URI=f"mongodb://creditflow:s3cret-pass@127.0.0.1:{port}/?directConnection=true&authSource=admin"
        )  # type: ignore[arg-type]
        client = make_client(settings, app_name="test")
        await client["creditflow_wallet"]["wallets"].insert_one({"_id": "acme"})
        assert await client["creditflow_wallet"]["wallets"].count_documents({}) == 1
        await client.close()
    finally:
        server.stop()


async def test_a_policy_change_or_a_purchase_on_behalf_of_a_non_admin_is_refused(ops, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[MEMBER], language="en")

    policy = await ops.configure(tenant_id, policy="overdraft", overdraft_limit=Decimal(500), by=MEMBER)
    purchase = await ops.top_up(tenant_id, Decimal(10), by=MEMBER)

    assert policy is not None and [e["reason"] for e in policy["events"]] == ["not_an_admin"]
    assert purchase is not None and [e["reason"] for e in purchase["events"]] == ["not_an_admin"]
    async with ops.wallet_store() as store:
        wallet = await store.wallet(tenant_id)
        assert (wallet.policy.kind, wallet.balance, wallet.pending) == ("hard", 0, ())
    allowed = await ops.configure(tenant_id, policy="overdraft", overdraft_limit=Decimal(500), by=ADMIN)
    assert allowed is not None and allowed["events"][0]["kind"] == "settings.changed"
    await asyncio.sleep(0)
    await eventually(lambda: _policy_is(ops, tenant_id, "overdraft"))


async def _policy_is(ops, tenant_id: str, kind: str) -> bool:
    async with ops.wallet_store() as store:
        return (await store.wallet(tenant_id)).policy.kind == kind
