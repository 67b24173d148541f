"""A user's partition: preferences, grant states, one-time credits and frequency-cap counters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.dynamo import Dynamo, Item, Update
from chalicelib.domain.records import Category, Credit, GrantState, Preferences

CREDIT_PURGE_GRACE = timedelta(days=7)


@dataclass
class UserState:
    preferences: Preferences = field(default_factory=Preferences)
    grants: dict[str, GrantState] = field(default_factory=dict)
    credits: list[Credit] = field(default_factory=list)

    def usable_credits(self, template_id: str, valid_at: datetime) -> list[Credit]:
        """Credits of a template still valid at ``valid_at``, earliest-expiring first."""
        return [
            c
            for c in self.credits
            if c.template_id == template_id and (c.expires_at is None or c.expires_at > valid_at)
        ]

    def credit_count(self, template_id: str, now: datetime) -> int:
        return len(self.usable_credits(template_id, now))


class Users:
    def __init__(self, db: Dynamo, shards: int) -> None:
        self.db = db
        self.shards = shards

    def load(self, app_id: str, openid: str) -> UserState:
        state = UserState()
        for item in self.db.query_all(
            "pk = :pk", {":pk": layout.user_partition(app_id, openid)}, consistent=True
        ):
            kind = item["sk"].split("#", 1)[0]
            if kind == "PREFS":
                state.preferences = Preferences.model_validate(item)
            elif kind == "GRANT":
                grant = GrantState.model_validate(item)
                state.grants[grant.template_id] = grant
            elif kind == "CREDIT":
                state.credits.append(Credit.model_validate(item))
        return state

    def put_preferences(self, app_id: str, openid: str, preferences: Preferences) -> None:
        key = layout.preferences_key(app_id, openid)
        self.db.put({**key, **preferences.model_dump(mode="json")})

    def grant_update_op(
        self, app_id: str, openid: str, template_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Set only the given fields of a grant state, creating it if needed."""
        fields = GrantState.model_validate({"template_id": template_id, **changes})
        values = fields.model_dump(mode="json", include={"template_id", *changes})
        key = layout.grant_state_key(app_id, openid, template_id)
        return self.db.update_op(Update.build(key, set_=values))

    def credit_item(self, app_id: str, openid: str, credit: Credit) -> dict[str, Any]:
        key = layout.credit_key(
            app_id, openid, credit.template_id, credit.expires_at, credit.credit_id
        )
        item: dict[str, Any] = {
            **key,
            **credit.model_dump(mode="json"),
            "app_id": app_id,
            "openid": openid,
        }
        if credit.expires_at is not None:
            shard = layout.shard_of(credit.credit_id, self.shards)
            item[layout.EXP_PK] = layout.expiry_shard(shard)
            item[layout.EXP_AT] = layout.epoch_ms(credit.expires_at)
            item[layout.TTL_ATTRIBUTE] = int((credit.expires_at + CREDIT_PURGE_GRACE).timestamp())
        return item

    def add_credit_op(self, app_id: str, openid: str, credit: Credit) -> dict[str, Any]:
        """Put a credit (new or refunded); a credit already there is left as it is."""
        return self.db.put_op(
            self.credit_item(app_id, openid, credit), condition="attribute_not_exists(pk)"
        )

    def take_credit_op(self, app_id: str, openid: str, credit: Credit) -> dict[str, Any]:
        key = layout.credit_key(
            app_id, openid, credit.template_id, credit.expires_at, credit.credit_id
        )
        return self.db.delete_op(key, condition="attribute_exists(pk)")

    def drop_credits(self, app_id: str, openid: str, template_id: str) -> int:
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self.db.query_all(
                "pk = :pk AND begins_with(sk, :prefix)",
                {
                    ":pk": layout.user_partition(app_id, openid),
                    ":prefix": layout.credits_prefix(template_id),
                },
                consistent=True,
            )
        ]
        self.db.batch_delete(keys)
        return len(keys)

    def not_opted_out_op(
        self,
        app_id: str,
        openid: str,
        category: Category,
        template_id: str,
        user_timezone: str | None,
    ) -> dict[str, Any]:
        """Condition: the user has not opted out and still has the timezone the message knows."""
        timezone = "attribute_not_exists(#tz)" if user_timezone is None else "#tz = :tz"
        condition = (
            "attribute_not_exists(pk) OR ((attribute_not_exists(#all) OR #all = :false)"
            " AND NOT contains(#cats, :cat) AND NOT contains(#tpls, :tpl)"
            f" AND {timezone})"
        )
        values: dict[str, Any] = {":false": False, ":cat": category.value, ":tpl": template_id}
        if user_timezone is not None:
            values[":tz"] = user_timezone
        names = {
            "#all": "opt_out_all",
            "#cats": "opt_out_categories",
            "#tpls": "opt_out_templates",
            "#tz": "timezone",
        }
        return self.db.check_op(layout.preferences_key(app_id, openid), condition, names, values)

    def cap_op(
        self,
        app_id: str,
        openid: str,
        category: Category,
        window: str,
        ends_at: datetime,
        delta: int,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Take (delta=1, bounded by ``limit``) or give back (delta=-1) one send of a cap window."""
        key = layout.cap_counter_key(app_id, openid, category.value, window)
        condition, values = None, {}
        if limit is not None:
            condition = "attribute_not_exists(#n) OR #n < :limit"
            values = {":limit": limit}
        update = Update.build(
            key,
            add={"n": delta},
            set_={layout.TTL_ATTRIBUTE: int((ends_at + timedelta(days=1)).timestamp())},
            condition=condition,
            names={"#n": "n"} if condition else None,
            values=values,
        )
        return self.db.update_op(update)

    def expired_credits(self, shard: int, now: datetime) -> Iterator[Item]:
        return self.db.query_all(
            "exp_pk = :shard AND exp_at <= :now",
            {":shard": layout.expiry_shard(shard), ":now": layout.epoch_ms(now)},
            index=layout.EXPIRY_INDEX,
        )

    def expire_credit_op(self, item: Item) -> dict[str, Any]:
        """Delete an expired credit, unless it was reserved (deleted) since the index was read."""
        return self.db.delete_op(
            {"pk": item["pk"], "sk": item["sk"]},
            condition="attribute_exists(pk)",
        )

    def erase(self, app_id: str, openid: str) -> int:
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self.db.query_all(
                "pk = :pk", {":pk": layout.user_partition(app_id, openid)}, consistent=True
            )
        ]
        self.db.batch_delete(keys)
        return len(keys)
