from shared.config import Settings


class NotificationSettings(Settings):
    consumer_group: str = "notifications"
    send_interval_seconds: float = 1.0
    rate_limit_per_hour: int = 12
    digest_window_minutes: float = 15.0
