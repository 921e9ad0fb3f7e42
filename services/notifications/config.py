from pydantic import Field

from shared.config import Settings


class NotificationSettings(Settings):
    consumer_group: str = "notifications"
    send_interval_seconds: float = 1.0
    rate_limit_per_hour: int = 12
    digest_window_minutes: float = 15.0
    operator_emails: str = Field("", description="Comma-separated: told when a webhook endpoint without its own "
                                 "alert e-mails is disabled.")  # fmt: skip
    webhook_retry_first_seconds: float = Field(60.0, gt=0)
    webhook_retry_ceiling_seconds: float = Field(6 * 3600.0, gt=0)
    webhook_give_up_hours: float = Field(72.0, gt=0)
    webhook_disable_after_hours: float = Field(72.0, gt=0)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_concurrency: int = Field(8, ge=1, le=100)

    def operators(self) -> tuple[str, ...]:
        return tuple(e.strip() for e in self.operator_emails.split(",") if e.strip())
