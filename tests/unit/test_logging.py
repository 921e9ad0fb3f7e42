import json

import pytest
import structlog

from shared.logging import MASK, configure_logging, redact_text


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    """configure_logging binds structlog to the captured stderr of the test: undo it afterwards."""
    yield
    structlog.reset_defaults()


def test_credentials_in_urls_are_masked() -> None:
    assert redact_text("mongodb://app:s3cret@db:27017/x") == f"mongodb://{MASK}@db:27017/x"
    assert redact_text("smtp+starttls://mailer:p%40ss@relay:587") == f"smtp+starttls://{MASK}@relay:587"


def test_no_secret_reaches_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test")
    log = structlog.get_logger()

    log.info(
        "connecting",
        uri="mongodb://app:s3cret@db/x",
        kafka_sasl_password="hunter2",
        nested={"api_key": "k-123", "ok": "visible"},
    )

    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "s3cret" not in line and "hunter2" not in line and "k-123" not in line
    assert record["nested"]["ok"] == "visible"
    assert record["service"] == "test"
