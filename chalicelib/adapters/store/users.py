"""A user's partition: preferences, grant states, one-time credits and frequency-cap counters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.engagement import ACTIVE_DAY, engagement_of
from chalicelib.adapters.store.table import (
    EXISTING,
    NEW,
    All,
    AnyOf,
    AtMost,
    BeginsWith,
    Below,
    Check,
    Condition,
    Delete,
    Equals,
    Exists,
    Holds,
    Item,
    Missing,
    Not,
    Put,
    Query,
    Update,
)
from chalicelib.domain import policy
from chalicelib.domain.records import Category, Credit, LongTermStatus
from chalicelib.domain.users import GrantState, Preferences, UserState
from chalicelib.ports import ConditionFailed, Table

CREDIT_PURGE_GRACE = timedelta(days=7)


class Users:
    def __init__(self, table: Table, shards: int, holder_shards: int) -> None:
        self.table = table
        self.shards = shards
        self.holder_shards = holder_shards

    def _holds(self, app_id: str, openid: str, template_id: str, suffix: str) -> Item:
        """The holders index entry of a credit or an active long-term grant."""
        shard = layout.shard_of(openid, self.holder_shards)
        return {
            layout.HOLD_PK: layout.holders_shard(app_id, template_id, shard),
            layout.HOLD_SK: layout.holder_sort(openid, suffix),
        }

    def load(self, app_id: str, openid: str) -> UserState:
        state = UserState()
        query = Query("pk", layout.user_partition(app_id, openid), consistent=True)
        for item in self.table.query_all(query):
            kind = item["sk"].split("#", 1)[0]
            if kind == "PREFS":
                state.preferences = Preferences.model_validate(item)
            elif kind == "GRANT":
                grant = GrantState.model_validate(item)
                state.grants[grant.template_id] = grant
            elif kind == "CREDIT":
                state.credits.append(Credit.model_validate(item))
            elif kind == "ENGAGE":
                state.engagement = engagement_of(item)
            elif kind == "CAP":
                state.cap_counts[layout.cap_counter_of(item["sk"])] = int(item.get("n", 0))
        return state

    def timezones(self, app_id: str, openids: Sequence[str]) -> dict[str, str | None]:
        """Each user's own timezone (None: the app's), read in batches."""
        keys = [layout.preferences_key(app_id, openid) for openid in dict.fromkeys(openids)]
        found = {item["pk"]: item.get("timezone") for item in self.table.get_many(keys)}
        return {openid: found.get(layout.user_partition(app_id, openid)) for openid in openids}

    def put_preferences(self, app_id: str, openid: str, preferences: Preferences) -> None:
        key = layout.preferences_key(app_id, openid)
        self.table.write(Put({**key, **preferences.model_dump(mode="json")}))

    def grant_update(
        self,
        app_id: str,
        openid: str,
        template_id: str,
        changes: dict[str, Any],
        active_day: str | None = None,
    ) -> Update:
        """Set only the given fields of a grant state, creating it if needed (``active_day``:
        the user's last active day, for the holders index entry of an active long-term grant)."""
        fields = GrantState.model_validate({"template_id": template_id, **changes})
        values: dict[str, Any] = fields.model_dump(mode="json", include={"template_id", *changes})
        if fields.long_term is LongTermStatus.ACTIVE:
            holds = self._holds(app_id, openid, template_id, layout.LONG_TERM_HOLD)
            granted_at = values.get("last_result_at")
            values.update({**holds, "openid": openid, "granted_at": granted_at})
            if active_day is not None:
                values[ACTIVE_DAY] = active_day
        elif fields.long_term is LongTermStatus.REJECTED:
            values.update({layout.HOLD_PK: None, layout.HOLD_SK: None})
        return Update(layout.grant_state_key(app_id, openid, template_id), set=values)

    def credit_item(self, app_id: str, openid: str, credit: Credit) -> Item:
        key = layout.credit_key(
            app_id, openid, credit.template_id, credit.expires_at, credit.credit_id
        )
        item: Item = {
            **key,
            **credit.model_dump(mode="json"),
            "app_id": app_id,
            "openid": openid,
            **self._holds(app_id, openid, credit.template_id, credit.credit_id),
        }
        if credit.expires_at is not None:
            shard = layout.shard_of(credit.credit_id, self.shards)
            item[layout.EXP_PK] = layout.expiry_shard(shard)
            item[layout.EXP_AT] = layout.epoch_ms(credit.expires_at)
            item[layout.TTL_ATTRIBUTE] = int((credit.expires_at + CREDIT_PURGE_GRACE).timestamp())
        return item

    def mark_holders_active(self, app_id: str, openid: str, day: str) -> None:
        """The user's holders index entries (credits, active long-term grants) take ``day`` as
        the user's last active day: one update each, skipped for an entry reserved or dropped
        meanwhile or a later day there already."""
        query = Query("pk", layout.user_partition(app_id, openid), consistent=True)
        later = AnyOf((Missing(ACTIVE_DAY), Below(ACTIVE_DAY, day)))
        held = [item for item in self.table.query_all(query) if item.get(layout.HOLD_PK)]
        for item in held:
            update = Update(
                {"pk": item["pk"], "sk": item["sk"]},
                set={ACTIVE_DAY: day},
                condition=All((Exists(layout.HOLD_PK), later)),
            )
            try:
                self.table.write(update)
            except ConditionFailed:
                continue

    def add_credit(self, app_id: str, openid: str, credit: Credit) -> Put:
        """Put a credit (new or refunded); a credit already there is left as it is."""
        return Put(self.credit_item(app_id, openid, credit), NEW)

    def take_credit(self, app_id: str, openid: str, credit: Credit) -> Delete:
        key = layout.credit_key(
            app_id, openid, credit.template_id, credit.expires_at, credit.credit_id
        )
        return Delete(key, EXISTING)

    def drop_credits(self, app_id: str, openid: str, template_id: str) -> int:
        query = Query(
            "pk",
            layout.user_partition(app_id, openid),
            sort=BeginsWith(layout.credits_prefix(template_id)),
            consistent=True,
        )
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in self.table.query_all(query)]
        self.table.delete_many(keys)
        return len(keys)

    def still_wanted(
        self, app_id: str, openid: str, category: Category, template_id: str, timezone: str | None
    ) -> Check:
        """The user has not opted out and still has the timezone the message knows."""
        refusals: list[Condition] = [
            Equals(o.setting, True) if o.holds is None else Holds(o.setting, o.holds)
            for o in policy.opt_outs(category, template_id)
        ]
        same_zone = Missing("timezone") if timezone is None else Equals("timezone", timezone)
        wanted = All((*(Not(r) for r in refusals), same_zone))
        return Check(layout.preferences_key(app_id, openid), AnyOf((Missing("pk"), wanted)))

    def cap(
        self,
        app_id: str,
        openid: str,
        category: Category,
        window: str,
        ends_at: datetime,
        delta: int,
        limit: int | None = None,
    ) -> Update:
        """Take (delta=1, bounded by ``limit``) or give back (delta=-1) one send of a cap window."""
        key = layout.cap_counter_key(app_id, openid, category.value, window)
        bounded = None if limit is None else AnyOf((Missing("n"), Below("n", limit)))
        expires = int((ends_at + timedelta(days=1)).timestamp())
        return Update(key, set={layout.TTL_ATTRIBUTE: expires}, add={"n": delta}, condition=bounded)

    def expired_credits(self, shard: int, now: datetime) -> Iterator[Item]:
        query = Query(
            layout.EXP_PK,
            layout.expiry_shard(shard),
            sort_key=layout.EXP_AT,
            sort=AtMost(layout.epoch_ms(now)),
            index=layout.EXPIRY_INDEX,
        )
        return self.table.query_all(query)

    def expire_credit(self, item: Item) -> Delete:
        """Delete an expired credit, unless it was reserved (deleted) since the index was read."""
        return Delete({"pk": item["pk"], "sk": item["sk"]}, EXISTING)

    def erase(self, app_id: str, openid: str) -> int:
        query = Query("pk", layout.user_partition(app_id, openid), consistent=True)
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in self.table.query_all(query)]
        self.table.delete_many(keys)
        return len(keys)
