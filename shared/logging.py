"""structlog JSON logs. Secrets never reach them: credentials in URLs and secret-looking keys are masked."""

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^@/\s]+)@")
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|credential", re.IGNORECASE)
MASK = "***"


_KNOWN: set[str] = set()
"""The actual secret values of this process (passwords from the settings), masked wherever they appear."""


def remember_secrets(values: Iterable[str | None]) -> None:
    _KNOWN.update(v for v in values if v and len(v) >= 4)


def redact_text(text: str) -> str:
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    for secret in _KNOWN:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: MASK if _SECRET_KEY.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = MASK if _SECRET_KEY.search(key) else _redact(event_dict[key])
    return event_dict


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


def configure_logging(service: str, level: str = "INFO", *, secrets: Iterable[str | None] = ()) -> None:
    """JSON logs for `service`. `secrets` (e.g. `settings.secret_values()`) are masked in every line, even in
    free text written by a library."""
    remember_secrets(secrets)
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter('{"level": "%(levelname)s", "logger": "%(name)s", "event": "%(message)s"}'))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    if level.upper() == "DEBUG":  # group joins, assignments and rebalances of the Kafka client
        logging.getLogger("aiokafka").setLevel(logging.INFO)
