"""A campaign's recipients (one partition per shard, sorted by openid) and the holders index a
holders audience is frozen from; the ``Campaigns`` repository is made of these and the campaign
item's own methods (``campaigns``)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.cursors import cursor_in, cursor_out
from chalicelib.adapters.store.table import (
    NEW,
    BeginsWith,
    Cursor,
    Delete,
    Equals,
    Item,
    Key,
    Put,
    Query,
    Update,
)
from chalicelib.domain.campaign_records import Campaign, Recipient, RecipientState
from chalicelib.ports import Table

START, END = "", "END"  # a fan-out chain's cursor before its first page and after its last


@dataclass(frozen=True)
class Membership:
    """One campaign's recipient record of a user (None: none there)."""

    campaign_id: str
    key: Key
    recipient: Recipient | None


class Recipients:
    """The recipients' part of the ``Campaigns`` repository."""

    table: Table
    shards: int

    def shard_of(self, openid: str) -> int:
        return layout.shard_of(openid, self.shards)

    def _recipient_key(self, campaign: Campaign, openid: str) -> dict[str, str]:
        return layout.recipient_key(
            campaign.app_id, campaign.campaign_id, self.shard_of(openid), openid
        )

    def new_recipient(self, campaign: Campaign, recipient: Recipient) -> Put:
        """A recipient, unless the openid is in the audience already."""
        item = {
            **self._recipient_key(campaign, recipient.openid),
            **recipient.model_dump(mode="json", exclude_none=True),
        }
        return Put(item, NEW)

    def recipient_handled(
        self,
        campaign: Campaign,
        openid: str,
        state: RecipientState,
        variant: str | None,
        message_id: str | None = None,
    ) -> Update:
        """A pending recipient got its message (or was skipped): once, whatever the retries."""
        return Update(
            self._recipient_key(campaign, openid),
            set={"state": state.value, "variant": variant, "message_id": message_id},
            condition=Equals("state", RecipientState.PENDING.value),
        )

    def recipient_back(self, campaign_id: str, app_id: str, openid: str, message_id: str) -> Update:
        """The message of a paused campaign was withdrawn: the recipient is pending again."""
        key = layout.recipient_key(app_id, campaign_id, self.shard_of(openid), openid)
        return Update(
            key,
            set={"state": RecipientState.PENDING.value},
            remove=("message_id", "variant"),
            condition=Equals("message_id", message_id),
        )

    def memberships(self, app_id: str, openid: str) -> list[Membership]:
        """Where the user may be a recipient: one per campaign of the app, with the record a
        batch read finds there (erasure)."""
        query = Query(
            "pk", layout.app_partition(app_id), sort=BeginsWith(layout.campaigns_prefix())
        )
        shard = self.shard_of(openid)
        keys = {
            str(item["campaign_id"]): layout.recipient_key(
                app_id, str(item["campaign_id"]), shard, openid
            )
            for item in self.table.query_all(query)
        }
        found = {item["pk"]: item for item in self.table.get_many(list(keys.values()))}
        return [
            Membership(campaign_id, key, _recipient(found.get(key["pk"])))
            for campaign_id, key in keys.items()
        ]

    def recipient_at(self, key: Key) -> Recipient | None:
        return _recipient(self.table.get(key, consistent=True))

    def pending_erased(self, key: Key) -> Delete:
        """An erased user's recipient record, if it is still waiting for its card."""
        return Delete(key, Equals("state", RecipientState.PENDING.value))

    def pending(
        self,
        campaign: Campaign,
        shard: int,
        limit: int,
        start: str,
        state: RecipientState = RecipientState.PENDING,
    ) -> tuple[list[Recipient], str]:
        """One page of a shard's recipients, those in ``state`` kept (still pending, unless
        asked otherwise); the cursor after it (END: the last)."""
        query = Query(
            "pk",
            layout.recipients_partition(campaign.app_id, campaign.campaign_id, shard),
            limit=limit,
            consistent=True,
            filter=Equals("state", state.value),
        )
        items, after = self.table.query(query, _cursor(start))
        return [Recipient.model_validate(i) for i in items], _cursor_text(after)

    def holders(
        self, app_id: str, template_id: str, shard: int, limit: int, start: str
    ) -> tuple[list[Item], str]:
        """One page of the holders index of a template's shard, in openid order."""
        query = Query(
            layout.HOLD_PK,
            layout.holders_shard(app_id, template_id, shard),
            sort_key=layout.HOLD_SK,
            index=layout.HOLDERS_INDEX,
            limit=limit,
        )
        items, after = self.table.query(query, _cursor(start))
        return items, _cursor_text(after)


def _recipient(item: Item | None) -> Recipient | None:
    return Recipient.model_validate(item) if item else None


def _cursor(text: str) -> Cursor | None:
    return cursor_in(text) if text not in (START, END) else None


def _cursor_text(after: Cursor | None) -> str:
    return END if after is None else (cursor_out(after) or END)
