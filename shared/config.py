"""Where the servers are, from the environment or, for the embedded stack, from `stack.json`.

Production sets KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI and SMTP_URL. On a developer machine
`creditflow up` starts the embedded servers and writes their addresses to `<state-dir>/stack.json`;
every command and worker that finds no environment variable reads that file.
"""

import json
import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".creditflow")
STACK_FILE = "stack.json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    state_dir: Path = Field(DEFAULT_STATE_DIR, alias="CREDITFLOW_STATE_DIR")
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_replication_factor: int = 1
    mongodb_uri: SecretStr | None = None
    mongodb_database_prefix: str = "creditflow"
    smtp_url: SecretStr | None = None
    smtp_from: str = "creditflow <no-reply@creditflow.local>"
    webhook_signing_key: SecretStr | None = None
    """The deployment's master key for webhook signing secrets (each endpoint's is derived from it and a salt:
    `shared.signing.derive_secret`). The API, the CLI and the notifications worker need the same one."""
    log_level: str = "INFO"
    health_port: int = 0
    creditflow_wait_seconds: float = Field(30.0, gt=0)
    """How long the CLI (and the API's `?wait=`) waits for a worker's outcome before saying it has none yet."""
    batch_max_records: int = Field(500, ge=1, le=10_000)
    """Records a hot consumer (usage events, wallet commands) takes per call: one transaction and one offset
    commit each. Larger batches cost fewer round trips and per-tenant writes per event, and more redelivered
    work after a crash."""

    def with_stack_file(self) -> Self:
        """Fill every address the environment left empty from `<state-dir>/stack.json`."""
        path = self.state_dir / STACK_FILE
        missing = not (self.kafka_bootstrap_servers and self.mongodb_uri and self.smtp_url and self.webhook_signing_key)
        if not missing or not path.exists():
            return self
        stack = json.loads(path.read_text())
        update: dict[str, object] = {}
        if not self.kafka_bootstrap_servers:
            update["kafka_bootstrap_servers"] = stack["kafka_bootstrap_servers"]
        if not self.mongodb_uri:
            update["mongodb_uri"] = SecretStr(stack["mongodb_uri"])
        if not self.smtp_url and stack.get("smtp_url"):
            update["smtp_url"] = SecretStr(stack["smtp_url"])
        if not self.webhook_signing_key and stack.get("webhook_signing_key"):
            update["webhook_signing_key"] = SecretStr(stack["webhook_signing_key"])
        return self.model_copy(update=update)

    def require_addresses(self) -> Self:
        resolved = self.with_stack_file()
        if not resolved.kafka_bootstrap_servers or not resolved.mongodb_uri:
            raise RuntimeError(
                "No Kafka/MongoDB address: set KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI, "
                f"or start the local stack with `creditflow up` (it writes {resolved.state_dir / STACK_FILE})."
            )
        return resolved

    def secret_values(self) -> list[str]:
        """Every secret this process holds, for the log redaction: passwords and the URIs that carry them."""
        from urllib.parse import unquote, urlsplit

        found: list[str] = []
        for secret in (self.mongodb_uri, self.smtp_url, self.kafka_sasl_password, self.webhook_signing_key):
            if secret is None:
                continue
            value = secret.get_secret_value()
            found.append(value)
            password = urlsplit(value).password if "://" in value else None
            if password:
                found += [password, unquote(password)]
        return found

    def database_name(self, service: str) -> str:
        return f"{self.mongodb_database_prefix}_{service}"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides).require_addresses()  # type: ignore[arg-type]


def env_for_workers(settings: Settings) -> dict[str, str]:
    """The environment a worker process needs to reach the same servers."""
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers or ""
    if settings.mongodb_uri:
        env["MONGODB_URI"] = settings.mongodb_uri.get_secret_value()
    if settings.smtp_url:
        env["SMTP_URL"] = settings.smtp_url.get_secret_value()
    if settings.webhook_signing_key:
        env["WEBHOOK_SIGNING_KEY"] = settings.webhook_signing_key.get_secret_value()
    env["MONGODB_DATABASE_PREFIX"] = settings.mongodb_database_prefix
    env["CREDITFLOW_STATE_DIR"] = str(settings.state_dir)
    return env
