"""Messages through the API: create (reserving a credit), read, list, move, cancel, track."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.observability import logger
from chalicelib.adapters.store import ConditionFailed, TransactionCanceled, UserState
from chalicelib.adapters.store.messages import cursor_in
from chalicelib.api.schemas import EventIn, ListQuery, MessageIn, MessageList, MessageOut, ResultOut
from chalicelib.bootstrap import Services
from chalicelib.domain import clock, keywords, policy
from chalicelib.domain.errors import (
    FieldProblem,
    GrantExpiresBeforeSendAt,
    IdempotencyKeyMismatch,
    NoGrant,
    NotCancelable,
    NotFound,
    OptedOut,
    ValidationFailed,
)
from chalicelib.domain.records import App, Credit, Message, MessageStatus, Template, TemplateKind
from chalicelib.services import dispatch
from chalicelib.services.stats import stats_day
from chalicelib.services.templates import find_template

S = MessageStatus
RESERVE_ROUNDS = 3


def idempotency_key(header: str | None) -> str | None:
    """The Idempotency-Key header, if any: 1 to 255 visible ASCII characters."""
    if header is None:
        return None
    if not 1 <= len(header) <= 255 or not header.isascii() or not header.isprintable():
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            [FieldProblem("Idempotency-Key", "must be 1 to 255 visible ASCII characters")],
        )
    return header


def body_hash(body: MessageIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create(
    services: Services, app: App, body: MessageIn, idempotency_key: str | None
) -> tuple[Message, bool]:
    """Reserve a credit and write the message; (message, False) for a replayed idempotency key."""
    now = clock.now()
    digest = body_hash(body)
    try:
        template = find_template(services, app.app_id, body.template_id)
        send_at = _send_at(services, body.send_at, now)
        problems = keywords.validate_data(template.keywords, body.data)
        if problems:
            raise ValidationFailed("Some keyword values break WeChat's rules.", problems)
        draft = _Draft(app, template, body, send_at, now, idempotency_key, digest)
        message = _reserve(services, draft)
    except (
        NotFound,
        ValidationFailed,
        NoGrant,
        OptedOut,
        GrantExpiresBeforeSendAt,
        _Replay,
    ) as error:
        replayed = _replayed(services, app, idempotency_key, digest, now)
        if replayed is not None:
            return replayed, False
        if isinstance(error, _Replay):  # its message was erased a moment ago with its user
            raise NotFound("The message this Idempotency-Key created no longer exists.") from error
        raise
    if message.status is S.QUEUED:
        _enqueue(services, message, now)
    return message, True


class _Replay(Exception):
    """The idempotency key was used before: answer with the first message."""


def _send_at(services: Services, requested: datetime | None, now: datetime) -> datetime:
    if requested is None or requested <= now:
        return now
    limit = now + timedelta(days=services.settings.max_schedule_ahead_days)
    if requested > limit:
        raise ValidationFailed(
            "send_at is too far ahead.",
            [
                FieldProblem(
                    "send_at", f"more than {services.settings.max_schedule_ahead_days} days ahead"
                )
            ],
        )
    return clock.to_utc_ms(requested)


@dataclass(frozen=True)
class _Draft:
    """A valid request to send, before a credit is reserved for it."""

    app: App
    template: Template
    body: MessageIn
    send_at: datetime
    now: datetime
    idempotency_key: str | None
    digest: str


def _reserve(services: Services, draft: _Draft) -> Message:
    """One Query for the user, then one transaction per candidate credit until one holds."""
    store, template = services.store, draft.template
    for _ in range(RESERVE_ROUNDS):
        state = store.users.load(draft.app.app_id, draft.body.openid)
        if policy.opted_out(state.preferences, template.category, template.template_id):
            raise OptedOut("The user opted out of this message.")
        conflicted = False
        for credit in _candidates(draft, state):
            message = _new_message(services, draft, credit, state.preferences.timezone)
            try:
                store.db.transact(_reserve_ops(services, draft, message))
                return message
            except TransactionCanceled as canceled:
                conflicted = conflicted or canceled.conflict
                if draft.idempotency_key and _idempotency_index(credit) in canceled.failed:
                    raise _Replay from canceled
                if credit is None or (0 not in canceled.failed and not canceled.conflict):
                    raise
        if not conflicted:
            break
    raise NoGrant("The user has no unused grant for this template.")


def _candidates(draft: _Draft, state: UserState) -> list[Credit | None]:
    """The credits to try, earliest-expiring first; [None] for a long-term template."""
    template_id = draft.template.template_id
    if draft.template.kind is TemplateKind.LONG_TERM:
        grant = state.grants.get(template_id)
        if grant is None or grant.long_term != "active":
            raise NoGrant("The user has no active long-term subscription to this template.")
        return [None]
    candidates: list[Credit | None] = list(state.usable_credits(template_id, draft.send_at))
    if not candidates:
        if state.usable_credits(template_id, draft.now):
            raise GrantExpiresBeforeSendAt("Every grant of the user expires before send_at.")
        raise NoGrant("The user has no unused grant for this template.")
    return candidates


def _idempotency_index(credit: Credit | None) -> int:
    return 2 if credit is not None else 1


def _new_message(
    services: Services, draft: _Draft, credit: Credit | None, user_timezone: str | None
) -> Message:
    app, template, body = draft.app, draft.template, draft.body
    lookahead = services.settings.sweep_interval_s
    queued = dispatch.within_lookahead(draft.send_at, draft.now, lookahead)
    return Message(
        id=clock.new_id("msg"),
        app_id=app.app_id,
        openid=body.openid,
        template_id=template.template_id,
        kind=template.kind,
        category=template.category,
        data=body.data,
        page=body.page or template.default_page,
        lang=body.lang or app.lang,
        miniprogram_state=app.miniprogram_state,
        urgent=body.urgent,
        user_timezone=user_timezone,
        send_at=draft.send_at,
        status=S.QUEUED if queued else S.SCHEDULED,
        credit=credit,
        created_at=draft.now,
        idempotency_key=draft.idempotency_key,
    )


def _work_at(services: Services, message: Message) -> datetime:
    if message.status is S.QUEUED:
        return message.send_at + timedelta(seconds=services.settings.enqueue_lease_s)
    return message.send_at


def _reserve_ops(services: Services, draft: _Draft, message: Message) -> list[dict[str, Any]]:
    """Take the credit, write the message and the idempotency key, count it: all or nothing."""
    store, app_id = services.store, draft.app.app_id
    operations = []
    if message.credit is not None:
        operations.append(store.users.take_credit_op(app_id, message.openid, message.credit))
    operations.append(store.messages.create_op(message, _work_at(services, message)))
    if draft.idempotency_key:
        ttl = services.settings.idempotency_ttl_s
        operations.append(
            store.idempotency.put_op(
                app_id, draft.idempotency_key, draft.digest, message.id, draft.now, ttl
            )
        )
    day = stats_day(draft.app, draft.now)
    operations.append(
        store.counters.increment_op(app_id, day, message.template_id, {"requested": 1})
    )
    return operations


def _replayed(
    services: Services, app: App, idempotency_key: str | None, digest: str, now: datetime
) -> Message | None:
    if not idempotency_key:
        return None
    record = services.store.idempotency.get(app.app_id, idempotency_key, now)
    if record is None:
        return None
    if record["body_hash"] != digest:
        raise IdempotencyKeyMismatch("This Idempotency-Key was used with a different body.")
    return services.store.messages.get(record["message_id"])


def _enqueue(services: Services, message: Message, now: datetime) -> None:
    try:
        services.queue.send(dispatch.envelope(message, now))
    except (BotoCoreError, ClientError):
        # The message waits on the needs-work index; the next sweep enqueues it again.
        logger.warning("enqueue failed; left for the due sweep", extra={"message_id": message.id})


def get(services: Services, app: App, message_id: str) -> Message:
    message = services.store.messages.get(message_id) if message_id.startswith("msg_") else None
    if message is None or message.app_id != app.app_id:
        raise NotFound(f"Message {message_id} does not exist.")
    return message


def list_for_user(services: Services, app: App, openid: str, query: ListQuery) -> MessageList:
    try:
        start = cursor_in(query.cursor) if query.cursor else None
    except ValueError as error:
        raise ValidationFailed(
            "The cursor is not valid.", [FieldProblem("cursor", "not a cursor")]
        ) from error
    found, next_cursor = services.store.messages.list_for_user(
        app.app_id, openid, query.status, query.limit, start
    )
    return MessageList(items=[message_out(m) for m in found], next_cursor=next_cursor)


def cancel(services: Services, app: App, message_id: str) -> Message:
    message = get(services, app, message_id)
    if message.status is S.CANCELED:
        return message
    now = clock.now()
    store = services.store
    operations = [
        store.db.update_op(
            store.messages.transition(
                message.id,
                from_=(S.SCHEDULED, S.QUEUED),
                to=S.CANCELED,
                now=now,
                purge_at=_purge_at(services, now),
            )
        )
    ]
    if message.credit is not None:
        operations.append(store.users.add_credit_op(app.app_id, message.openid, message.credit))
    try:
        store.db.transact(operations)
    except TransactionCanceled as canceled:
        raise NotCancelable(
            f"Message {message_id} is already being sent or finished."
        ) from canceled
    return message.model_copy(update={"status": S.CANCELED})


def reschedule(services: Services, app: App, message_id: str, requested: datetime) -> Message:
    message = get(services, app, message_id)
    if message.status is not S.SCHEDULED:
        raise NotCancelable(f"Message {message_id} can only be moved while scheduled.")
    now = clock.now()
    send_at = _send_at(services, requested, now)
    credit = message.credit
    if credit is not None and credit.expires_at is not None and credit.expires_at <= send_at:
        raise GrantExpiresBeforeSendAt("The reserved grant expires before the new send_at.")
    moved = message.model_copy(update={"send_at": send_at})
    enqueue_now = dispatch.within_lookahead(send_at, now, services.settings.sweep_interval_s)
    moved.status = S.QUEUED if enqueue_now else S.SCHEDULED
    update = services.store.messages.transition(
        message.id,
        from_=(S.SCHEDULED,),
        to=moved.status,
        now=now,
        work_at=_work_at(services, moved),
        fields={"send_at": send_at},
        expect={"send_at_ms": int(message.send_at.timestamp() * 1000)},
    )
    try:
        services.store.messages.apply(update)
    except ConditionFailed as error:
        raise NotCancelable(f"Message {message_id} is no longer scheduled.") from error
    if enqueue_now:
        _enqueue(services, moved, now)
    return moved


def track(services: Services, app: App, message_id: str, event: EventIn) -> bool:
    """Record a click or conversion; True when it was the first of its type (and counted)."""
    message = get(services, app, message_id)
    now = clock.now()
    moment, counter = (
        ("clicked_at", "clicked") if event.type == "click" else ("converted_at", "converted")
    )
    fields: dict[str, Any] = {moment: now.isoformat()}
    if event.value is not None:
        fields["conversion_value"] = str(event.value)
    store = services.store
    update = store.messages.first_event(message.id, moment, fields)
    try:
        store.db.transact(
            [
                store.db.update_op(update),
                store.counters.increment_op(
                    app.app_id, stats_day(app, now), message.template_id, {counter: 1}
                ),
            ]
        )
    except TransactionCanceled:
        return False
    return True


def _purge_at(services: Services, now: datetime) -> int:
    return int(now.timestamp()) + services.settings.retention_days * 86400


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        openid=message.openid,
        template_id=message.template_id,
        status=message.status,
        send_at=clock.zulu(message.send_at) or "",
        urgent=message.urgent,
        attempts=message.attempts,
        result=ResultOut(
            **message.result.model_dump(include={"errcode", "errmsg", "msgid", "reason"})
        ),
        created_at=clock.zulu(message.created_at) or "",
        sent_at=clock.zulu(message.sent_at),
        clicked_at=clock.zulu(message.clicked_at),
        converted_at=clock.zulu(message.converted_at),
    )


def delivery_failed(services: Services, app: App, msgid: int, errcode: int, status: str) -> None:
    """WeChat reported later that a card it accepted was not delivered: sent becomes failed."""
    store = services.store
    message_id = store.messages.find_by_msgid(app.app_id, msgid)
    message = store.messages.get(message_id) if message_id else None
    if message is None or message.app_id != app.app_id:
        return
    now = clock.now()
    sent_day = stats_day(app, message.sent_at or now)
    result = {**message.result.model_dump(exclude_none=True), "errcode": errcode, "errmsg": status}
    update = store.messages.transition(
        message.id,
        from_=(S.SENT,),
        to=S.FAILED,
        now=now,
        fields={"result": result},
        purge_at=_purge_at(services, now),
    )
    try:
        store.db.transact(
            [
                store.db.update_op(update),
                store.counters.increment_op(
                    app.app_id, sent_day, message.template_id, {"sent": -1, "failed": 1}
                ),
            ]
        )
    except TransactionCanceled:
        return  # not sent (any more): already recorded
