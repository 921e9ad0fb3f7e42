"""The HTTP API under a bounded mixed load on loopback, on the embedded stack with every worker running:
`clients` concurrent closed-loop clients for `seconds` (spend checks, balance and ledger reads, usage batches,
top-ups with idempotency keys, command outcomes). It prints p50/p99 per route, counts the errors that are not the
client's fault (5xx, no answer), then checks that nothing accepted was lost: every usage event answered
`accepted` was priced and debited once, every top-up answered 202 was charged and credited once.

    .venv/bin/python -m proof.api_load [--clients 100] [--seconds 60] [--tenants 20]     # `make load`

Exit status 1 on any error or loss. The load runs in this process, beside the servers and workers, on the same
cores: the latencies are this machine's, not a capacity figure (see `make bench-api` for the spend check alone).
"""

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx

from creditflow.ops import Ops, connect
from creditflow.supervisor import Supervisor
from shared.config import Settings
from shared.kafka import ensure_topics
from shared.localstack import LocalStack

from .chaos import stack_settings

ROUTES = ("spend_check", "balance", "ledger", "usage_batch", "top_up", "command")
WEIGHTS = (40, 20, 10, 15, 10, 5)


@dataclass
class LoadReport:
    clients: int = 0
    seconds: float = 0.0
    requests: int = 0
    by_route: dict[str, dict[str, float]] = field(default_factory=dict)
    server_errors: int = 0
    client_errors: int = 0
    usage_accepted: int = 0
    topups_accepted: int = 0
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"api load: {self.clients} clients for {self.seconds:.0f} s, {self.requests} requests "
                 f"({self.requests / max(self.seconds, 1e-9):.0f}/s); errors not the client's fault: "
                 f"{self.server_errors}; 4xx: {self.client_errors}"]  # fmt: skip
        for route, figures in self.by_route.items():
            lines.append(f"  {route:<12} n={figures['n']:>6.0f}  p50 {figures['p50_ms']:7.1f} ms  "
                         f"p99 {figures['p99_ms']:7.1f} ms")  # fmt: skip
        verdict = "OK: nothing accepted was lost" if not self.violations else f"{len(self.violations)} VIOLATIONS"
        lines.append(f"  accepted: {self.usage_accepted} usage events, {self.topups_accepted} top-ups: {verdict}")
        return "\n".join(lines)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Load:
    url: str
    key: str
    tenants: list[str]
    rng: random.Random
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: int = 0
    client_errors: int = 0
    accepted_events: dict[str, str] = field(default_factory=dict)  # event id -> tenant
    accepted_topups: dict[str, tuple[str, str]] = field(default_factory=dict)  # command id -> (tenant, credits)
    commands: list[str] = field(default_factory=list)
    n: int = 0

    async def one(self, api: httpx.AsyncClient, route: str) -> None:
        tenant = self.rng.choice(self.tenants)
        base = f"/v1/tenants/{tenant}"
        self.n += 1
        n = self.n
        started = time.perf_counter()
        try:
            if route == "spend_check":
                answer = await api.get(f"{base}/spend-check", params={"meter": "sms", "quantity": 1})
            elif route == "balance":
                answer = await api.get(f"{base}/wallet")
            elif route == "ledger":
                answer = await api.get(f"{base}/wallet/ledger", params={"limit": 20})
            elif route == "usage_batch":
                events = [{"event_id": f"load-{n}-{i}", "tenant_id": tenant, "type": "sms", "quantity": 1,
                           "occurred_at": datetime.now(UTC).isoformat()} for i in range(10)]  # fmt: skip
                answer = await api.post(f"{base}/usage-events", json=events)
                if answer.status_code == 202:
                    for result in answer.json()["results"]:
                        if result["status"] == "accepted":
                            self.accepted_events[result["event_id"]] = tenant
            elif route == "top_up":
                credits = str(self.rng.randint(1, 20))
                headers = {"Idempotency-Key": f"load-{n}", "Acting-As": f"admin@{tenant}.example"}
                answer = await api.post(f"{base}/wallet/top-ups", json={"credits": credits}, headers=headers)
                if answer.status_code == 202:
                    command_id = answer.json()["command_id"]
                    self.accepted_topups[command_id] = (tenant, credits)
                    self.commands.append(command_id)
            else:
                command_id = self.rng.choice(self.commands) if self.commands else "none"
                answer = await api.get(f"/v1/commands/{command_id}")
                if command_id == "none" and answer.status_code == 404:
                    answer.status_code = 200  # the first ones, before any top-up
        except httpx.HTTPError:
            self.server_errors += 1
            return
        self.latencies[route].append((time.perf_counter() - started) * 1000)
        if answer.status_code >= 500:
            self.server_errors += 1
        elif answer.status_code >= 400:
            self.client_errors += 1

    async def client(self, deadline: float) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"},
                                     timeout=30) as api:  # fmt: skip
            while time.monotonic() < deadline:
                await self.one(api, self.rng.choices(ROUTES, WEIGHTS)[0])


async def _setup(ops: Ops, tenants: list[str]) -> str:
    for tenant in tenants:
        await ops.create_tenant(tenant, name=tenant, admins=[f"admin@{tenant}.example"], members=[], language="en")
        await ops.grant(tenant, Decimal(1_000_000), kind="purchased", source="load funding")
    _, key = await ops.create_api_key("operator", name="load")
    return key


async def _nothing_lost(ops: Ops, load: Load, report: LoadReport, timeout: float) -> None:
    """Every accepted usage event debited once; every accepted top-up credited once (by the wallet's ledger)."""
    by_tenant: dict[str, set[str]] = defaultdict(set)
    for event_id, tenant in load.accepted_events.items():
        by_tenant[tenant].add(f"usage:{event_id}")
    topups: dict[str, set[str]] = defaultdict(set)
    for command_id, (tenant, _) in load.accepted_topups.items():
        topups[tenant].add(f"payment:purchase:{tenant}:{command_id}")
    deadline = time.monotonic() + timeout
    async with ops.wallet_store() as store:
        while True:
            missing, doubled = 0, 0
            for tenant in load.tenants:
                entries = await store.ledger(tenant, limit=1_000_000)
                seen: dict[str, int] = defaultdict(int)
                for e in entries:
                    seen[e.command_id] += 1
                want = by_tenant[tenant] | topups[tenant]
                missing += len([c for c in want if seen.get(c, 0) == 0])
                doubled += len([c for c in want if seen.get(c, 0) > 1])
            if (missing == 0 and doubled == 0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    if missing:
        report.violations.append(f"{missing} accepted events or top-ups never applied")
    if doubled:
        report.violations.append(f"{doubled} accepted events or top-ups applied twice")


async def _run(settings: Settings, clients: int, seconds: float, tenants: int, seed: int) -> LoadReport:
    report = LoadReport(clients=clients, seconds=seconds)
    names = ("metering", "wallet", "payments", "notifications", "subscriptions", "api")
    supervisor = Supervisor(settings, settings.state_dir / "logs", names=names)
    await asyncio.to_thread(supervisor.start)
    try:
        async with connect(settings) as ops:
            tenant_ids = [f"load-{i:03d}" for i in range(tenants)]
            key = await _setup(ops, tenant_ids)
            assert supervisor.api_url is not None
            load = Load(supervisor.api_url, key, tenant_ids, random.Random(seed))
            deadline = time.monotonic() + seconds
            await asyncio.gather(*(load.client(deadline) for _ in range(clients)))
            report.requests = sum(len(v) for v in load.latencies.values()) + load.server_errors
            report.by_route = {
                route: {"n": len(v), "p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99)}
                for route, v in sorted(load.latencies.items())
            }
            report.server_errors, report.client_errors = load.server_errors, load.client_errors
            report.usage_accepted, report.topups_accepted = len(load.accepted_events), len(load.accepted_topups)
            if load.server_errors:
                report.violations.append(f"{load.server_errors} errors that are not the client's fault")
            if load.client_errors:
                report.violations.append(f"{load.client_errors} valid requests answered 4xx")
            await _nothing_lost(ops, load, report, timeout=300)
    finally:
        await asyncio.to_thread(supervisor.stop)
    return report


def run(clients: int = 100, seconds: float = 60, tenants: int = 20, seed: int = 5,
        json_out: Path | None = None) -> LoadReport:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="creditflow-load-") as tmp, LocalStack(Path(tmp)) as stack:
        settings = stack_settings(stack, Path(tmp), "load")
        asyncio.run(ensure_topics(settings))
        report = asyncio.run(_run(settings, clients, seconds, tenants, seed))
    if json_out is not None:
        json_out.write_text(json.dumps(asdict(report), indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("api-load-result.json"))
    args = parser.parse_args()
    report = run(args.clients, args.seconds, args.tenants, args.seed, args.json)
    print(report.summary())
    for violation in report.violations:
        print(f"  VIOLATION {violation}")
    raise SystemExit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
