from pydantic import Field

from shared.config import Settings


class WalletSettings(Settings):
    consumer_group: str = "wallet"
    expiry_sweep_seconds: float = 60.0
    batch_max_lines: int = Field(2000, ge=1, le=100_000)
    """Debits and other commands the wallet applies in one transaction at most (`BATCH_MAX_LINES`). One of
    metering's messages carries up to 1,000 lines, so a batch of `BATCH_MAX_RECORDS` messages is applied in parts
    of this size: the worker's memory stays bounded when it catches up (1M events, one worker: 376 MiB peak with
    no bound, 129 MiB with parts of 500 lines at 3,546 events/s, 113 MiB with 2,000 at 4,685 /s)."""
