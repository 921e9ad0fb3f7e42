"""What the benchmarks share: an embedded stack (or the configured servers) and workers to measure."""

import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from creditflow.supervisor import WorkerProcess
from shared.config import Settings, env_for_workers
from shared.localstack import LocalStack
from shared.mongo import AsyncMongoClient, Document, make_client


@contextmanager
def stack(prefix: str) -> Iterator[Settings]:
    """The configured servers if KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI are set, else a fresh embedded stack."""
    configured = Settings()
    if configured.kafka_bootstrap_servers and configured.mongodb_uri:
        yield configured.model_copy(update={"mongodb_database_prefix": prefix})
        return
    with tempfile.TemporaryDirectory(prefix="creditflow-bench-") as tmp, LocalStack(Path(tmp)) as local:
        yield Settings(
            CREDITFLOW_STATE_DIR=Path(tmp),
            KAFKA_BOOTSTRAP_SERVERS=local.kafka_bootstrap_servers,
            MONGODB_URI=SecretStr(local.mongodb_uri),
            SMTP_URL=SecretStr(local.smtp_url),
            MONGODB_DATABASE_PREFIX=prefix,
        )


@contextmanager
def worker(name: str, settings: Settings, logs: Path) -> Iterator[WorkerProcess]:
    logs.mkdir(parents=True, exist_ok=True)
    process = WorkerProcess(name, env_for_workers(settings), logs / f"{name}.log")
    process.start()
    try:
        deadline = time.monotonic() + 120
        while not process.healthy():
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become healthy; see {process.log_path}")
            time.sleep(0.2)
        yield process
    finally:
        process.stop()


@asynccontextmanager
async def scratch_database(settings: Settings, name: str) -> AsyncIterator[tuple[AsyncMongoClient[Document], Any]]:
    """A client and a database of a probe's own (`<name>_<random>`), dropped afterwards."""
    client = make_client(settings, app_name=f"bench-{name}")
    db = client[f"{name}_{uuid.uuid4().hex[:6]}"]
    try:
        yield client, db
    finally:
        await client.drop_database(db.name)
        await client.close()
