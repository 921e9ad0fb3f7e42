"""Test servers: the embedded stack by default, real Kafka and MongoDB images through testcontainers when
CREDITFLOW_TEST_STACK=containers and a Docker engine is available. Never a mock."""

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from shared.config import Settings
from shared.localstack import LocalStack, Server, free_port


@dataclass
class TestStack:
    __test__ = False  # a fixture's value, not a test class for pytest to collect

    settings: Settings
    mailbox: Path
    smtp: Server
    local: LocalStack | None = None


def _settings(kafka: str, mongo: str, smtp: str, state_dir: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        CREDITFLOW_STATE_DIR=state_dir,
        kafka_bootstrap_servers=kafka,
        mongodb_uri=SecretStr(mongo),
        smtp_url=SecretStr(smtp),
        webhook_signing_key=SecretStr(f"test-{uuid.uuid4().hex}"),
        mongodb_database_prefix=f"t{uuid.uuid4().hex[:8]}",
    )


@contextmanager
def embedded(state_dir: Path) -> Iterator[TestStack]:
    with LocalStack(state_dir) as stack:
        yield TestStack(
            _settings(stack.kafka_bootstrap_servers, stack.mongodb_uri, stack.smtp_url, state_dir),
            stack.mailbox_dir,
            stack.servers["smtp"],
            stack,
        )


@contextmanager
def containers(state_dir: Path) -> Iterator[TestStack]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    mongo = MongoDbContainer("mongo:8.0").with_command("--replSet rs0 --bind_ip_all")
    with KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka, mongo as mongodb:
        mongodb.exec(
            ["mongosh", "--quiet", "--eval", "rs.initiate({_id:'rs0',members:[{_id:0,host:'localhost:27017'}]})"]
        )
        mongo_uri = (
            f"mongodb://{mongodb.username}:{mongodb.password}@{mongodb.get_container_host_ip()}:"
            f"{mongodb.get_exposed_port(27017)}/?directConnection=true&authSource=admin"
        )
        port = free_port()
        smtp = Server(
            "smtp",
            [sys.executable, "-m", "shared.smtp_sink", "--port", str(port), "--maildir", str(state_dir / "mailbox")],
            port,
            state_dir / "smtp.log",
        )
        smtp.start()
        try:
            yield TestStack(
                _settings(kafka.get_bootstrap_server(), mongo_uri, f"smtp://127.0.0.1:{port}", state_dir),
                state_dir / "mailbox",
                smtp,
            )
        finally:
            smtp.stop()


def start_test_stack(state_dir: Path) -> "contextmanager[TestStack]":  # type: ignore[type-arg]
    state_dir.mkdir(parents=True, exist_ok=True)
    return containers(state_dir) if os.environ.get("CREDITFLOW_TEST_STACK") == "containers" else embedded(state_dir)
