"""notify's delivery policy, from DUBAN_NOTIFY_* variables (the channels' own: channels/settings.py)."""

from datetime import time

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.domain import QuietHours


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_NOTIFY_", extra="ignore")

    # A failed delivery is tried again after base, 2×base, 4×base… (at most cap) seconds, and is
    # dead after max_attempts tries (the office can re-send it).
    retry_base_s: float = Field(30, gt=0)
    retry_cap_s: float = Field(3600, gt=0)
    max_attempts: int = Field(6, ge=1, le=50)
    dispatch_interval_s: float = Field(1.0, gt=0)  # how often due deliveries are looked for
    dispatch_batch: int = Field(200, ge=1, le=10_000)
    # No SMS (by default) from quiet_start to quiet_end, Beijing time: deferred to the next
    # working day's quiet_end. As JSON: DUBAN_NOTIFY_QUIET_CHANNELS='["sms","wecom"]'.
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)
    quiet_channels: list[str] = ["sms"]
    # The unit heads' daily digest of what is due and late, on working days at this time.
    digest_at: time = time(8, 30)
    digest_working_days_ahead: int = Field(3, ge=0, le=30)
    # Links in messages point to the web console.
    console_url: str = "http://127.0.0.1:8100"

    @property
    def quiet(self) -> QuietHours:
        return QuietHours(self.quiet_start, self.quiet_end, tuple(self.quiet_channels))

    def task_link(self, task_id: str | None) -> str | None:
        return f"{self.console_url.rstrip('/')}/tasks/{task_id}" if task_id else None
