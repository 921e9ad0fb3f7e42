"""Two wallet workers in one consumer group; one is killed with SIGKILL mid-stream and every command is
published again. Nothing is lost, nothing applies twice: `creditflow reconcile` passes and every balance
equals the one computed independently from the commands."""

import random
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from creditflow.supervisor import Supervisor, WorkerProcess
from schemas import topics
from shared.config import env_for_workers
from tests.conftest import eventually
from tests.integration.conftest import publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_healthy(*workers: WorkerProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not all(w.healthy() for w in workers):
        assert all(w.alive() for w in workers), "a wallet worker exited"
        assert time.monotonic() < deadline, "wallet workers not healthy"
        time.sleep(0.2)


async def test_killing_a_wallet_worker_mid_stream_and_republishing_everything_loses_and_doubles_nothing(
    ops, producer, workers: Supervisor, tmp_path
) -> None:
    tenants = [f"fo-{i}-{random.randrange(10**6)}" for i in range(4)]
    rng = random.Random(42)
    now = datetime.now(UTC).isoformat()
    commands: list[dict[str, object]] = []
    expected = {t: Decimal(0) for t in tenants}
    for tenant in tenants:
        commands.append(
            {
                "kind": "grant",
                "command_id": "seed",
                "tenant_id": tenant,
                "issued_at": now,
                "amount": "500",
                "grant_kind": "purchased",
                "source": "failover test",
            }
        )
        expected[tenant] += 500
    for i in range(240):
        tenant = rng.choice(tenants)
        amount = Decimal(rng.randint(1, 300)) / 100
        commands.append(
            {
                "kind": "debit",
                "command_id": f"d{i}",
                "tenant_id": tenant,
                "issued_at": now,
                "amount": str(amount),
                "entry_type": "sms",
                "occurred_at": now,
                "source": "failover test",
            }
        )
        expected[tenant] -= amount

    env = {**env_for_workers(ops.settings), "LOG_LEVEL": "DEBUG"}
    workers.workers["wallet"].stop()  # the group is now exactly the two workers below
    pair = [WorkerProcess("wallet", env, tmp_path / f"wallet-{n}.log") for n in (1, 2)]
    try:
        for worker in pair:
            worker.start()
        wait_healthy(*pair)

        half = len(commands) // 2
        for command in commands[:half]:
            await publish(producer, topics.WALLET_COMMANDS, str(command["tenant_id"]), command)

        async def some_applied() -> bool:
            async with ops.wallet_store() as store:
                return any([(await store.wallet(t)).entry_count > 5 for t in tenants])

        await eventually(some_applied, timeout=240)  # includes the pair joining the group
        pair[0].stop(kill=True)  # SIGKILL: no commit, no goodbye to the group

        for command in commands[half:] + commands:  # the rest, then everything again
            await publish(producer, topics.WALLET_COMMANDS, str(command["tenant_id"]), command)

        async def all_applied() -> bool:
            async with ops.wallet_store() as store:
                return all([(await store.wallet(t)).entry_count == _count(commands, t) for t in tenants])

        await eventually(all_applied, timeout=240, interval=0.5)
    finally:
        for worker in pair:
            worker.stop()
        workers.workers["wallet"].start()

    report = await ops.reconcile()
    assert {t: report[t] for t in tenants} == {t: [] for t in tenants}
    async with ops.wallet_store() as store:
        for tenant in tenants:
            assert (await store.wallet(tenant)).balance == int(expected[tenant] * 1_000_000), tenant
            assert (await store.sum_of_entries(tenant))[1] == _count(commands, tenant)


def _count(commands: list[dict[str, object]], tenant: str) -> int:
    return sum(1 for c in commands if c["tenant_id"] == tenant)
