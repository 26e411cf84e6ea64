"""The channels' configuration, from ``DUBAN_NOTIFY_*`` environment variables.

E-mail needs ``DUBAN_NOTIFY_SMTP_HOST`` (and then ``DUBAN_NOTIFY_SMTP_SENDER``); SMS needs
``DUBAN_NOTIFY_SMS_URL``. Without them the channel is simply not available. The group robots and the
OA webhook need nothing here: each message carries its URL and secret.
"""

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_NOTIFY_", extra="ignore")

    # Seconds one attempt on any channel may take (connect, send, answer), at most.
    channel_timeout: float = Field(10, gt=0, le=300)

    # SMTP. starttls: require upgrading the plain connection (port 587); use_tls: TLS from the start
    # (port 465); neither: plain SMTP (a relay inside the network, port 25).
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str | None = None  # "督办系统 <duban@example.gov.cn>" or a bare address
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False

    # A generic HTTP SMS gateway (services/notify/channels/sms.py).
    sms_url: str | None = None
    sms_token: SecretStr | None = None  # sent as "Authorization: Bearer <token>"
    sms_sign: str = ""  # the signature name registered with the SMS provider, e.g. "督办系统"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.smtp_host and not self.smtp_sender:
            raise ValueError("DUBAN_NOTIFY_SMTP_HOST is set but DUBAN_NOTIFY_SMTP_SENDER is not")
        if self.smtp_starttls and self.smtp_use_tls:
            raise ValueError("DUBAN_NOTIFY_SMTP_STARTTLS and DUBAN_NOTIFY_SMTP_USE_TLS exclude each other")
        return self
