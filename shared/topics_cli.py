"""`python -m shared.topics_cli`: create the creditflow topics on the configured Kafka (idempotent)."""

import asyncio

from .config import Settings
from .kafka import ensure_topics


def main() -> None:
    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS is not set")
    created = asyncio.run(ensure_topics(settings))
    print(f"created: {', '.join(created) or 'nothing (all present)'}")  # noqa: T201


if __name__ == "__main__":
    main()
