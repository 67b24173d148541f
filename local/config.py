"""Settings of the local stack, from the environment or given by a test
(docs/local-stack.md#environment-overrides)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from local.demo import DemoApp

HOST = "127.0.0.1"
STAGE = "local"


class LocalSettings(BaseSettings):
    """Ports, the demo app and the sweep periods; a port of 0 lets the system choose."""

    model_config = SettingsConfigDict(env_prefix="SUBMSG_", extra="ignore", populate_by_name=True)

    port: int = Field(default=8000, ge=1, le=65535)
    aws_port: int = Field(default=4566, ge=0, le=65535)
    # An AWS endpoint the user runs (the embedded one of `make aws`, LocalStack, moto's server):
    # the stack then starts no embedded AWS of its own and creates its table and queues there.
    aws_endpoint: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # How long that endpoint may take to answer at start before the stack gives up with one line.
    aws_endpoint_wait_s: float = Field(default=15.0, gt=0)
    sandbox_port: int = Field(default=8001, ge=0, le=65535)
    wechat_api_base: str | None = Field(default=None, validation_alias="WECHAT_API_BASE")
    demo_app_id: str = "wx0000000000000001"
    demo_app_secret: SecretStr = SecretStr("made-up-local-app-secret")
    demo_api_key: SecretStr = SecretStr("sk_local_demo_key")
    local_sweep_every_s: float = Field(default=2.0, gt=0)
    local_expiry_every_s: float = Field(default=60.0, gt=0)
    # the webhook sweep is the safety net (lost hand-overs, retries beyond 15 minutes)
    local_webhook_sweep_every_s: float = Field(default=10.0, gt=0)
    local_metrics: bool = False  # print the EMF documents the handlers emit, as Lambda would

    def demo(self) -> DemoApp:
        return DemoApp(
            app_id=self.demo_app_id,
            secret=self.demo_app_secret.get_secret_value(),
            api_key=self.demo_api_key.get_secret_value(),
        )
