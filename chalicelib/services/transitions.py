"""The sender's steps for one message, each one conditional write or transaction (SPEC §4)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.store import ConditionFailed, TransactionCanceled
from chalicelib.adapters.wechat import SendReport
from chalicelib.bootstrap import Services
from chalicelib.domain import clock, policy
from chalicelib.domain.records import App, Message, MessageStatus
from chalicelib.services.stats import stats_day

S = MessageStatus
UNCLAIMED = (S.SCHEDULED, S.QUEUED)


class Transitions:
    CLAIM_MESSAGE, CLAIM_PREFERENCES, CLAIM_CAP = 0, 1, 2

    def __init__(self, services: Services, app: App, message: Message, now: datetime) -> None:
        self.services = services
        self.store = services.store
        self.app = app
        self.message = message
        self.now = now
        self.claim_id = clock.new_id("claim")

    # Before the claim ---------------------------------------------------------------------

    def cap_window(self) -> policy.CapWindow | None:
        cap = self.app.caps.get(self.message.category)
        if cap is None:
            return None
        timezone = self.message.user_timezone or self.app.timezone
        return policy.cap_window(self.now, timezone, cap.period)

    def claim_ops(self, window: policy.CapWindow | None, due_by: datetime) -> list[dict[str, Any]]:
        message, users = self.message, self.store.users
        lease_until = self.now + timedelta(seconds=self.services.settings.lease_s)
        operations = [
            self._op(
                from_=UNCLAIMED,
                to=S.SENDING,
                work_at=lease_until,
                due_by=due_by,
                fields={"claim_id": self.claim_id},
                add_attempt=True,
                claimed=False,
            ),
            users.not_opted_out_op(
                message.app_id,
                message.openid,
                message.category,
                message.template_id,
                message.user_timezone,
            ),
        ]
        if window is not None:
            limit = self.app.caps[message.category].limit
            operations.append(self._cap_op(window, +1, limit))
        return operations

    def defer_unclaimed(self, until: datetime, due_by: datetime) -> None:
        update = self.store.messages.transition(
            self.message.id,
            from_=UNCLAIMED,
            to=S.SCHEDULED,
            now=self.now,
            work_at=until,
            fields={"send_at": until},
            due_by=due_by,
        )
        with contextlib.suppress(ConditionFailed):  # handled by another copy, canceled or moved
            self.store.messages.apply(update)

    def skip_unclaimed(self, reason: str) -> None:
        operations = [
            self._op(
                from_=UNCLAIMED,
                to=S.SKIPPED,
                fields={"result": {"reason": reason}},
                purge=True,
                claimed=False,
            ),
            *self._refund_ops(),
            self._stats_op("skipped"),
        ]
        self._transact_quietly(operations)

    # After the claim ----------------------------------------------------------------------

    def release_for_retry(
        self, report: SendReport, delay_s: int, window: policy.CapWindow | None
    ) -> None:
        lease = self.services.settings.lease_s
        operations = [
            self._op(
                to=S.QUEUED,
                work_at=self.now + timedelta(seconds=delay_s + lease),
                fields={"result": _result(report)},
            ),
            *self._cap_release(window),
        ]
        self._transact_quietly(operations)

    def finish_sent(self, report: SendReport) -> None:
        purge_at = self._purge_at()
        operations = [
            self._op(
                to=S.SENT, fields={"result": _result(report), "sent_at": self.now}, purge=True
            ),
            self._stats_op("sent"),
        ]
        if report.msgid is not None:
            operations.append(
                self.store.messages.msgid_pointer_op(
                    self.app.app_id, report.msgid, self.message.id, purge_at
                )
            )
        self._transact_quietly(operations)

    def defer_claimed(
        self, until: datetime, report: SendReport, window: policy.CapWindow | None
    ) -> None:
        operations = [
            self._op(
                to=S.SCHEDULED, work_at=until, fields={"send_at": until, "result": _result(report)}
            ),
            *self._cap_release(window),
        ]
        self._transact_quietly(operations)

    def finish_unknown(self, report: SendReport) -> None:
        self._transact_quietly(
            [self._op(to=S.UNKNOWN, fields={"result": _result(report)}, purge=True)]
        )

    def finish_failed(
        self, report: SendReport, window: policy.CapWindow | None, refund: bool
    ) -> None:
        operations = [
            self._op(to=S.FAILED, fields={"result": _result(report)}, purge=True),
            self._stats_op("failed"),
            *self._cap_release(window),
        ]
        if refund:
            operations += self._refund_ops()
        self._transact_quietly(operations)

    # Building blocks ----------------------------------------------------------------------

    def _op(
        self,
        *,
        to: MessageStatus,
        from_: tuple[MessageStatus, ...] = (S.SENDING,),
        work_at: datetime | None = None,
        fields: dict[str, Any] | None = None,
        purge: bool = False,
        due_by: datetime | None = None,
        add_attempt: bool = False,
        claimed: bool = True,
    ) -> dict[str, Any]:
        """A transition; once claimed, only this claim's holder may move the message."""
        guard = {"claim_id": self.claim_id} if claimed else None
        update = self.store.messages.transition(
            self.message.id,
            from_=from_,
            to=to,
            now=self.now,
            work_at=work_at,
            fields=fields,
            expect=guard,
            due_by=due_by,
            purge_at=self._purge_at() if purge else None,
            add_attempt=add_attempt,
        )
        return self.store.db.update_op(update)

    def _refund_ops(self) -> list[dict[str, Any]]:
        credit = self.message.credit
        if credit is None:
            return []
        return [self.store.users.add_credit_op(self.app.app_id, self.message.openid, credit)]

    def _cap_op(
        self, window: policy.CapWindow, delta: int, limit: int | None = None
    ) -> dict[str, Any]:
        return self.store.users.cap_op(
            self.app.app_id,
            self.message.openid,
            self.message.category,
            window.key,
            window.ends_at,
            delta,
            limit,
        )

    def _cap_release(self, window: policy.CapWindow | None) -> list[dict[str, Any]]:
        return [] if window is None else [self._cap_op(window, -1)]

    def _stats_op(self, counter: str) -> dict[str, Any]:
        return self.store.counters.increment_op(
            self.app.app_id, stats_day(self.app, self.now), self.message.template_id, {counter: 1}
        )

    def _purge_at(self) -> int:
        return int(self.now.timestamp()) + self.services.settings.retention_days * 86400

    def _transact_quietly(self, operations: list[dict[str, Any]]) -> None:
        """Run a step; one that finds the message moved on already (a duplicate) does nothing."""
        try:
            self.store.db.transact(operations)
        except TransactionCanceled as canceled:
            if 0 not in canceled.failed:
                raise


def _result(report: SendReport) -> dict[str, Any]:
    result: dict[str, Any] = {"errmsg": report.errmsg}
    if report.errcode is not None:
        result["errcode"] = report.errcode
    if report.msgid is not None:
        result["msgid"] = report.msgid
    return result
