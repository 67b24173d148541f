"""Service settings: every knob, read from the environment once per container (never at import)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

PREFIX = "SUBMSG_"


class Settings(BaseModel):
    """Every knob of the service, validated by pydantic; built by ``bootstrap.services()``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "local"
    table_name: str = "submsg-local"
    send_queue_url: str = ""
    webhook_queue_url: str = ""
    sweep_queue_url: str = ""  # the due sweep's fan-out; none: the scheduled run sweeps alone
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_connect_timeout_s: float = 3.05
    wechat_read_timeout_s: float = 10.0
    # shards written; the sweeps read every shard that may hold items (docs/storage.md#shard-counts)
    due_shards: int = Field(default=8, ge=1, le=64)
    expiry_shards: int = Field(default=4, ge=1, le=64)
    sweep_interval_s: int = Field(default=60, ge=1, le=900)
    lease_s: int = Field(default=120, ge=10)
    enqueue_lease_s: int = Field(default=60, ge=5)
    max_attempts: int = Field(default=5, ge=1)
    retry_base_s: int = Field(default=10, ge=1)
    cache_ttl_s: float = Field(default=60.0, ge=0)
    secret_cache_s: int = Field(default=300, ge=0)
    retention_days: int = Field(default=90, ge=1)
    idempotency_ttl_s: int = 24 * 3600
    max_body_bytes: int = 64 * 1024
    max_schedule_ahead_days: int = 366
    # counter shards written per app, day and template (readers sum all COUNTER_SHARDS = 16)
    stats_shards: int = Field(default=16, ge=1, le=16)
    callback_dedupe_ttl_s: int = 24 * 3600  # WeChat retries a push within seconds
    sweep_time_budget_s: float = Field(default=15.0, gt=0)  # well inside the sweep's timeout
    # Deadlines (docs/resilience.md): an API request's, well under API Gateway's 29 s; a Lambda's
    # when its context does not say (the local stack); what the sender keeps back to record an
    # answer; what a scheduled run keeps back to finish.
    request_deadline_s: float = Field(default=8.0, gt=0, le=28)
    lambda_timeout_s: float = Field(default=20.0, gt=0)
    record_reserve_s: float = Field(default=2.0, ge=0)
    finish_reserve_s: float = Field(default=2.0, ge=0)
    sweep_reserve_s: float = Field(default=3.0, ge=0)  # Lambda time kept for the last page, tick
    sweep_workers: int = Field(default=8, ge=1, le=32)  # shards' pages swept at once
    sweep_page: int = Field(default=100, ge=1, le=1000)  # needs-work items one Query reads
    sweep_groups: int = Field(default=8, ge=1, le=64)  # sweep worker invocations a run fans out
    campaign_shards: int = Field(default=8, ge=1, le=64)  # fan-out chains (and holders shards)
    campaign_page: int = Field(default=50, ge=1, le=98)  # recipients one chain step handles
    campaign_lookahead_s: int = Field(default=60, ge=1)  # throttled cards written this far ahead
    campaign_status_cache_s: float = Field(default=2.0, ge=0)  # how soon a pause is seen
    ready_for_s: float = Field(default=5.0, ge=0)  # health remembers a good answer this long
    listing_pages: int = Field(default=5, ge=1, le=20)  # Queries one filtered listing reads
    webhook_lease_s: int = Field(default=60, ge=5)  # an enqueued delivery is swept again after
    webhook_cache_s: float = Field(default=30.0, ge=0)  # how long a container trusts endpoints
    webhook_connect_timeout_s: float = Field(default=3.05, gt=0)
    webhook_read_timeout_s: float = Field(default=10.0, gt=0)  # with the connect: at most 15 s
    webhook_fresh_s: float = Field(default=5.0, ge=0)  # a first attempt this soon goes unread
    listing_page_items: int = Field(default=100, ge=1, le=1000)  # items each of them reads

    @property
    def ssm_prefix(self) -> str:
        return f"/submsg/{self.stage}/apps"


def get_settings() -> Settings:
    """The settings in force now: SUBMSG_* variables, and WECHAT_API_BASE."""
    values: dict[str, str] = {
        name.removeprefix(PREFIX).lower(): value
        for name, value in os.environ.items()
        if name.startswith(PREFIX)
    }
    if "WECHAT_API_BASE" in os.environ:
        values["wechat_api_base"] = os.environ["WECHAT_API_BASE"]
    return Settings.model_validate(values)
