from datetime import timedelta

from shared.config import Settings


class MeteringSettings(Settings):
    consumer_group: str = "metering"
    dedup_window_days: int = 35
    max_event_bytes: int = 16 * 1024
    max_future_minutes: int = 5
    segment_maintenance_seconds: float = 3600.0
    """How often the monthly usage-record collections are created ahead and dropped past the dedup window."""

    @property
    def dedup_window(self) -> timedelta:
        return timedelta(days=self.dedup_window_days)
