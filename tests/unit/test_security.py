"""Security settings are used when set, and secrets never reach logs or dumps."""

import json
import logging
import ssl

import pytest
import structlog
from pydantic import SecretStr

from shared.config import Settings
from shared.kafka import admin_kwargs, make_broker, security
from shared.logging import configure_logging

SASL_SSL = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "creditflow",
    "KAFKA_SASL_PASSWORD": "hunter2",
}


def test_kafka_sasl_over_tls_is_used_by_every_client_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SASL_SSL.items():
        monkeypatch.setenv(key, value)
    settings = Settings()

    kwargs = admin_kwargs(settings)
    broker = make_broker(settings, client_id="test")

    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("creditflow", "hunter2")
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    consumer = broker.config.broker_config.builder.keywords  # type: ignore[attr-defined]
    assert (consumer["security_protocol"], consumer["sasl_plain_username"]) == ("SASL_SSL", "creditflow")


def test_plain_tls_without_sasl_is_possible_and_plaintext_is_the_local_default() -> None:
    assert security(Settings(KAFKA_SECURITY_PROTOCOL="SSL")) is not None  # type: ignore[call-arg]
    assert security(Settings()) is None
    assert "security_protocol" not in admin_kwargs(Settings())


def test_sasl_without_credentials_refuses_to_start() -> None:
    with pytest.raises(RuntimeError, match="KAFKA_SASL_USERNAME"):
        security(Settings(KAFKA_SECURITY_PROTOCOL="SASL_SSL"))  # type: ignore[call-arg]


def test_settings_never_show_their_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        MONGODB_URI=SecretStr("mongodb://app:s3cret@db/?authSource=admin"),
        KAFKA_SASL_PASSWORD=SecretStr("hunter2"),
        SMTP_URL=SecretStr("smtps://mailer:p4ss@relay:465"),
    )  # type: ignore[call-arg]
    configure_logging("test", secrets=settings.secret_values())
    try:
        structlog.get_logger().info("starting", settings=settings.model_dump(mode="json"), raw=repr(settings))
        logging.getLogger("aiokafka").warning("connecting to mongodb://app:s3cret@db with password hunter2")
        out = capsys.readouterr().err
    finally:
        structlog.reset_defaults()

    assert "s3cret" not in out and "hunter2" not in out and "p4ss" not in out
    assert json.loads(out.splitlines()[0])["event"] == "starting"
