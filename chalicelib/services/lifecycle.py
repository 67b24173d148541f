"""Moves of one message, each applied with its effects in one transaction (domain/lifecycle.py).

The effects come from the move's rule: the conditional write of the message (``message``), the
credit put back (``refund``), the cap slot given back (``cap``), the day's statistics
(``stats``), a campaign's counters (``campaign``); callers add their own named writes (a
condition on the user's preferences, the WeChat msgid pointer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.adapters import metrics
from chalicelib.domain import campaigns, clock, policy
from chalicelib.domain.lifecycle import Guard, Move, Transition, rule
from chalicelib.domain.records import App, Message, MessageStatus
from chalicelib.domain.statistics import stats_day
from chalicelib.domain.webhooks import MOVE_EVENTS, Endpoint
from chalicelib.ports import Name, WriteName
from chalicelib.services import webhooks
from chalicelib.services.deps import Core
from chalicelib.services.webhook_outbox import Outbox

if TYPE_CHECKING:
    from chalicelib.ports import Write

MESSAGE = WriteName.MESSAGE


@dataclass
class MessageSteps:
    """One message on its way, as one actor (API, sweep, sender, callback) sees it."""

    core: Core
    app: App
    message: Message
    now: datetime
    claim_id: str = field(default_factory=lambda: clock.new_id("claim"))
    # The app's webhook endpoints, read at this actor's first move: the sender reads them with
    # its claim, so no request comes between WeChat's answer and the move that records it.
    endpoints: tuple[Endpoint, ...] | None = None

    def cap_window(self) -> policy.CapWindow | None:
        cap = self.app.caps.get(self.message.category)
        if cap is None:
            return None
        timezone = self.message.user_timezone or self.app.timezone
        return policy.cap_window(self.now, timezone, cap.period)

    def transition(
        self, move: Move, target: MessageStatus | None = None, **guards: Any
    ) -> Transition:
        found = rule(move)
        if target is None:
            (target,) = found.targets
        purge_at = None
        if found.finishes:
            retention = timedelta(days=self.core.settings.retention_days)
            purge_at = int((self.now + retention).timestamp())
        if found.guard is Guard.CLAIM:
            guards.setdefault("claim_id", self.claim_id)
        return Transition(self.message.id, move, target, self.now, purge_at=purge_at, **guards)

    def writes(
        self,
        transition: Transition,
        window: policy.CapWindow | None = None,
        extra: Mapping[Name, Write] | None = None,
        stats_moment: datetime | None = None,
        cap_limit: int | None = None,
    ) -> dict[str, Write]:
        """The move's own write and every effect its rule asks for (``cap_limit``: sends the
        window allows instead of the app's cap, the user's marketing budget)."""
        store, found = self.core.store, transition.rule
        writes: dict[Name, Write] = {MESSAGE: store.messages.moved(transition)}
        credit = self.message.credit
        if found.refund and credit is not None:
            writes[WriteName.REFUND] = store.users.add_credit(
                self.app.app_id, self.message.openid, credit
            )
        if window is not None and (found.take_cap or found.release_cap):
            limit = None
            if found.take_cap:
                limit = self.app.caps[self.message.category].limit
                limit = limit if cap_limit is None else cap_limit
            writes[WriteName.CAP] = store.users.cap(
                self.app.app_id,
                self.message.openid,
                self.message.category,
                window.key,
                window.ends_at,
                +1 if found.take_cap else -1,
                limit,
            )
        day = stats_day(self.app, stats_moment or self.now)
        if found.counts:
            writes[WriteName.STATS] = store.counters.increment(
                self.app.app_id, day, self.message.template_id, dict(found.counts)
            )
        if self.message.campaign_id is not None and found.campaign_counts:
            result = transition.changes.get("result")
            reason = result.get("reason") if isinstance(result, dict) else None
            writes[WriteName.CAMPAIGN] = store.campaigns.count(
                self.app.app_id,
                self.message.campaign_id,
                day,
                self.message.variant or campaigns.NO_VARIANT,
                campaigns.progress_counts(found.campaign_counts, reason),
            )
        clash = writes.keys() & (extra or {}).keys()
        if clash:
            raise ValueError(f"extra writes named like the move's own: {sorted(clash)}")
        return {**writes, **(extra or {})}

    def apply(
        self,
        transition: Transition,
        window: policy.CapWindow | None = None,
        extra: Mapping[Name, Write] | None = None,
        stats_moment: datetime | None = None,
        cap_limit: int | None = None,
    ) -> bool:
        """Commit the move; False when the message had moved on (a duplicate: nothing done)."""
        lost = self.apply_unless_lost(
            transition, window=window, extra=extra, stats_moment=stats_moment, cap_limit=cap_limit
        )
        return lost is None

    def apply_unless_lost(
        self,
        transition: Transition,
        *names: WriteName,
        window: policy.CapWindow | None = None,
        extra: Mapping[Name, Write] | None = None,
        stats_moment: datetime | None = None,
        cap_limit: int | None = None,
    ) -> WriteName | None:
        """Commit the move; None when it landed, else the write that lost the race: ``message``
        (the message had moved on: a duplicate, nothing done) or one of ``names``."""
        transaction = self.core.store.transaction()
        writes = self.writes(transition, window, extra, stats_moment, cap_limit)
        if self.endpoints is None:
            self.endpoints = webhooks.endpoints_of(self.core, self.app.app_id)
        outbox = Outbox(self.core, self.app.app_id, self.now, self.endpoints)
        event = MOVE_EVENTS.get(transition.move)
        after = self.moved(transition) if event or transition.rule.attempt else None
        if event is not None and after is not None:  # the event it reports, in this transaction
            writes.update(outbox.message(event, after))
        for name, write in writes.items():
            transaction.add(name, write)
        lost = transaction.commit_unless_lost(MESSAGE, *names)
        if lost is not None:
            return lost
        outbox.committed()
        if after is not None:  # what later moves of this actor report starts from here
            self.message = after
        metrics.card_moved(self.app.app_id, transition, self.message.send_at)
        return None

    def moved(self, transition: Transition) -> Message:
        """The message as the move leaves it."""
        record = self.message.model_dump()
        record.update(transition.changes, status=transition.target)
        if transition.rule.attempt:
            record["attempts"] = self.message.attempts + 1
        return Message.model_validate(record)
