from shared.config import Settings


class NotificationSettings(Settings):
    consumer_group: str = "notifications"
    send_interval_seconds: float = 1.0
