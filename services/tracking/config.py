"""tracking's warning policy, from DUBAN_TRACKING_* variables (one policy per deployment)."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.tracking.alerts import WarningPolicy


class WarningSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_TRACKING_", extra="ignore")

    yellow_working_days: int = 2
    yellow_time_used: float = 0.75
    stagnant_after_working_days: int = 5
    reminder_days_before: list[int] = [3, 1]  # as JSON: DUBAN_TRACKING_REMINDER_DAYS_BEFORE=[5,2]
    remind_at_deadline: bool = True
    overdue_every_working_days: int = 2


def load_policy() -> WarningPolicy:
    """The configured policy; a bad value stops the service with WarningPolicy's message."""
    settings = WarningSettings()
    return WarningPolicy(**{**settings.model_dump(),
                            "reminder_days_before": tuple(settings.reminder_days_before)})
