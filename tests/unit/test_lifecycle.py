"""The lifecycle table (pure) and every move applied on the in-memory store (fast, no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import bootstrap
from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import Put
from chalicelib.domain import clock
from chalicelib.domain.lifecycle import LIFECYCLE, Guard, Move, Transition, moves_between
from chalicelib.domain.records import (
    Category,
    Credit,
    Message,
    MessageStatus,
    TemplateKind,
)
from chalicelib.services import admin
from chalicelib.services.lifecycle import MessageSteps
from chalicelib.services.stats import per_day
from chalicelib.settings import Settings

S = MessageStatus
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
APP_ID = "wx00000000000000aa"
OPENID = "oUserLifecycle000000000000001"
# The message states and their moves (docs/exactly-once.md): nothing else is allowed.
ALLOWED = {
    (S.SCHEDULED, S.SCHEDULED),  # moved by the API, or deferred to the end of quiet hours
    (S.SCHEDULED, S.QUEUED),
    (S.QUEUED, S.QUEUED),  # enqueued again by the sweep
    (S.QUEUED, S.SCHEDULED),  # deferred to the end of quiet hours
    (S.SCHEDULED, S.SENDING),
    (S.QUEUED, S.SENDING),
    (S.SCHEDULED, S.CANCELED),
    (S.QUEUED, S.CANCELED),
    (S.SCHEDULED, S.SKIPPED),
    (S.QUEUED, S.SKIPPED),
    (S.SENDING, S.QUEUED),
    (S.SENDING, S.SCHEDULED),
    (S.SENDING, S.SENT),
    (S.SENDING, S.FAILED),
    (S.SENDING, S.UNKNOWN),
    (S.SENT, S.FAILED),  # WeChat reported a delivery failure later
}


def test_the_table_allows_exactly_the_documented_moves():
    found = {(a, b) for a in S for b in S if moves_between(a, b)}
    assert found == ALLOWED


def test_finished_states_never_move_again_but_a_sent_card_can_fail_late():
    for finished in (S.FAILED, S.SKIPPED, S.UNKNOWN, S.CANCELED):
        assert not any(moves_between(finished, target) for target in S)
    assert moves_between(S.SENT, S.FAILED) == [Move.FAIL_LATE]


def test_a_credit_goes_back_exactly_when_wechat_certainly_did_not_spend_it():
    refunding = {move for move, rule in LIFECYCLE.items() if rule.refund}
    assert refunding == {Move.CANCEL, Move.WITHDRAW, Move.SKIP, Move.FAIL}


def test_a_move_refuses_to_be_built_without_its_guard_or_with_a_wrong_target():
    with pytest.raises(ValueError, match="claim"):
        Transition("msg_1", Move.SEND, S.SENT, NOW)
    with pytest.raises(ValueError, match="cannot end"):
        Transition("msg_1", Move.CANCEL, S.SENT, NOW)
    with pytest.raises(ValueError, match="finishes"):
        Transition("msg_1", Move.CANCEL, S.CANCELED, NOW, work_at=NOW)


@pytest.fixture(scope="module")
def memory():
    services = bootstrap.build_in_memory(Settings(stage="test", send_queue_url="memory"))
    admin.create_app(
        services.app_secrets, admin.new_app(APP_ID, "Lifecycle", created_at=NOW), "made-up"
    )
    return services.core


def stored(services, status: S, credit: bool = True) -> Message:
    message = Message(
        id=clock.new_id("msg"),
        app_id=APP_ID,
        openid=OPENID,
        template_id="TplLifecycle",
        kind=TemplateKind.ONE_TIME,
        category=Category.REMINDER,
        data={"thing1": "Class"},
        send_at=NOW,
        status=status,
        credit=Credit(credit_id=clock.new_id("cr"), template_id="TplLifecycle", granted_at=NOW)
        if credit
        else None,
        created_at=NOW,
    )
    item = services.store.messages.item(message, NOW + timedelta(minutes=1))
    services.store.table.write(Put({**item, "claim_id": "claim_1"}))
    return message


def guards_for(move: Move) -> dict:
    guard = LIFECYCLE[move].guard
    return {
        Guard.CLAIM: {"claim_id": "claim_1"},
        Guard.WORK_AT: {"work_at_ms": layout.epoch_ms(NOW + timedelta(minutes=1))},
        Guard.SEND_AT: {"send_at_ms": layout.epoch_ms(NOW)},
        Guard.DUE: {"due_by": NOW + timedelta(seconds=1)},
        Guard.NONE: {},
    }[guard]


@settings(max_examples=120, deadline=None)
@given(move=st.sampled_from(list(Move)), source=st.sampled_from(list(S)))
def test_every_move_applies_only_from_its_sources_with_the_effects_of_its_rule(
    memory, move, source
):
    rule = LIFECYCLE[move]
    message = stored(memory, source)
    app = memory.store.catalog.get_app(APP_ID)
    steps = MessageSteps(memory, app, message, NOW, claim_id="claim_1")
    target = sorted(rule.targets)[0]
    work_at = None if rule.finishes else NOW + timedelta(minutes=5)
    before = per_day(memory, app, NOW.date(), NOW.date() + timedelta(days=1))
    credits_before = len(memory.store.users.load(APP_ID, OPENID).credits)

    applied = steps.apply(steps.transition(move, target, work_at=work_at, **guards_for(move)))

    assert applied == (source in rule.sources)
    after = memory.store.messages.get(message.id)
    assert after is not None
    assert after.status is (target if applied else source)
    credits = len(memory.store.users.load(APP_ID, OPENID).credits)
    assert credits - credits_before == (1 if applied and rule.refund else 0)
    counted = per_day(memory, app, NOW.date(), NOW.date() + timedelta(days=1))
    for counter, delta in rule.counts.items():
        old = sum(day.get(counter, 0) for day in before.values())
        new = sum(day.get(counter, 0) for day in counted.values())
        assert new - old == (delta if applied else 0)
    item = memory.store.table.get(layout.message_key(message.id))
    if applied and rule.finishes:
        assert layout.WORK_PK not in item and layout.TTL_ATTRIBUTE in item
    if applied and not rule.finishes:
        assert item[layout.WORK_AT] == layout.epoch_ms(NOW + timedelta(minutes=5))


def test_a_move_whose_guard_no_longer_holds_does_nothing(memory):
    message = stored(memory, S.SENDING)
    app = memory.store.catalog.get_app(APP_ID)
    stale = MessageSteps(memory, app, message, NOW, claim_id="an_older_claim")
    assert not stale.apply(stale.transition(Move.SEND))
    assert memory.store.messages.get(message.id).status is S.SENDING
