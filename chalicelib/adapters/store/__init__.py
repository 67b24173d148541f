"""Persistence: every access to the table goes through these repositories.

``layout`` is the only module that knows the keys; ``table`` is the vocabulary of conditions,
writes and queries the repositories build; ``dynamo`` and ``memory`` are the two tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.store.campaigns import Campaigns
from chalicelib.adapters.store.catalog import Catalog
from chalicelib.adapters.store.counters import CallbackEvents, Counters, IdempotencyRecords
from chalicelib.adapters.store.engagement import EngagementItems
from chalicelib.adapters.store.messages import Listing, Messages
from chalicelib.adapters.store.rate_limits import RateLimits
from chalicelib.adapters.store.shard_marks import ShardMarks
from chalicelib.adapters.store.users import Users
from chalicelib.adapters.store.webhooks import Webhooks
from chalicelib.ports import Table, Transaction
from chalicelib.settings import Settings


@dataclass
class Store:
    table: Table
    catalog: Catalog
    users: Users
    messages: Messages
    counters: Counters
    idempotency: IdempotencyRecords
    events: CallbackEvents
    campaigns: Campaigns
    engagement: EngagementItems
    webhooks: Webhooks
    rate_limits: RateLimits
    shard_marks: ShardMarks

    @classmethod
    def create(cls, table: Table, settings: Settings) -> Store:
        return cls(
            table=table,
            catalog=Catalog(table),
            users=Users(table, settings.expiry_shards, settings.campaign_shards),
            messages=Messages(
                table,
                settings.due_shards,
                Listing(settings.listing_pages, settings.listing_page_items),
            ),
            counters=Counters(table, settings.stats_shards),
            idempotency=IdempotencyRecords(table),
            events=CallbackEvents(table, settings.callback_dedupe_ttl_s),
            campaigns=Campaigns(table, settings.campaign_shards, settings.stats_shards),
            engagement=EngagementItems(table, settings.stats_shards),
            webhooks=Webhooks(table, settings.due_shards, settings.retention_days * 86400),
            rate_limits=RateLimits(table),
            shard_marks=ShardMarks(table),
        )

    def transaction(self) -> Transaction:
        return Transaction(self.table)
