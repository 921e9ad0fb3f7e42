from datetime import datetime
from typing import Protocol

from .templates import Rendered


class PermanentFailure(Exception):
    """The SMTP server refused the message for good (5xx): retrying will not help."""


class Mailer(Protocol):
    async def send(self, *, to: str, rendered: Rendered, message_id: str) -> None:
        """Hand one message to the SMTP server. Raises PermanentFailure on a 5xx refusal and any other
        exception when it is worth retrying (server down, timeout, 4xx)."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
