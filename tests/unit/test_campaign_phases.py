"""The campaign phase table (pure) and every row applied on the in-memory store (fast, no AWS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.store.campaigns import END, START, cursor_attribute
from chalicelib.adapters.store.table import Put
from chalicelib.domain import campaign_phases as phases
from chalicelib.domain import clock
from chalicelib.domain.campaign_phases import (
    ANY,
    CHAINED,
    PHASES,
    CampaignMove,
    Chains,
    Effect,
    Guard,
    Row,
)
from chalicelib.domain.campaign_records import Campaign, CampaignPhase, CampaignStatus, Experiment
from chalicelib.domain.campaign_transition import CampaignTransition
from chalicelib.domain.webhooks import CAMPAIGN_EVENTS, Endpoint, EventType
from chalicelib.services.campaign_steps import PAGE_KIND, WITHDRAWAL_KIND, CampaignSteps
from chalicelib.settings import Settings

C, P, M = CampaignStatus, CampaignPhase, CampaignMove
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
APP_ID = "wx00000000000000cc"
# Where a campaign can stand (docs/campaigns.md#lifecycle): a phase only once it ran.
STAGES = [
    (C.DRAFT, None),
    (C.SCHEDULED, None),
    *((C.RUNNING, p) for p in P),
    *((C.PAUSED, p) for p in P),
    (C.CANCELED, None),
    *((C.CANCELED, p) for p in P),
    (C.COMPLETED, P.FINISH),
]
# The status moves of the documentation's lifecycle table, and who makes them.
DOCUMENTED = {
    M.START: ({C.DRAFT}, C.RUNNING),
    M.SCHEDULE: ({C.DRAFT}, C.SCHEDULED),
    M.BEGIN: ({C.SCHEDULED}, C.RUNNING),
    M.PAUSE: ({C.RUNNING}, C.PAUSED),
    M.RESUME: ({C.PAUSED}, C.RUNNING),
    M.CANCEL: ({C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED}, C.CANCELED),
    M.COMPLETE: ({C.RUNNING}, C.COMPLETED),
}
# The phases of a running campaign, and where each one goes on (docs/campaigns.md#phases).
PHASE_ORDER = {
    P.FREEZE: {P.TEST, P.SEND},
    P.TEST: {P.DECIDE, P.FINISH},
    P.DECIDE: {P.SEND, P.FINISH},
    P.SEND: {P.FINISH},
    P.FINISH: set(),
}


def test_the_api_and_the_tick_move_the_status_as_documented():
    for move, (sources, target) in DOCUMENTED.items():
        assert phases.sources(move) == sources, move
        assert {r.status for r in PHASES[move]} == {target}, move
    into = {r.status for rows in PHASES.values() for r in rows}
    assert C.DRAFT not in into  # nothing goes back to a draft
    assert not any(phases.row(move, C.COMPLETED, P.FINISH) for move in M)  # the end


def test_a_running_campaign_goes_through_its_phases_in_order():
    found: dict[CampaignPhase, set[CampaignPhase]] = {p: set() for p in P}
    for move, rows in PHASES.items():
        if move is M.RESUME:
            continue  # the same phase again (or the send after a pause in finish)
        for one in rows:
            if C.RUNNING in one.statuses and one.status is C.RUNNING and one.to_phases:
                for source in one.phases - {None}:
                    found[source] |= set(one.to_phases) - {source}
    assert found == PHASE_ORDER


def test_the_campaign_completes_only_from_finish_and_a_cancel_closes_once_with_its_books():
    (complete,) = PHASES[M.COMPLETE]
    assert complete.phases == {P.FINISH} and Effect.UNWATCH in complete.effects
    (close,) = PHASES[M.CLOSE]
    assert close.status is C.CANCELED and close.stamps == ("completed_at",)
    assert all(Effect.WATCH in r.effects for r in PHASES[M.CANCEL])  # the tick closes it


def test_the_closings_and_the_decision_report_their_events_and_no_other_move_does():
    reported = {
        (move, frozenset(one.phases)): one.event
        for move, rows in PHASES.items()
        for one in rows
        if one.event is not None
    }
    assert reported == {
        (M.COMPLETE, frozenset({P.FINISH})): EventType.CAMPAIGN_COMPLETED,
        (M.CLOSE, ANY): EventType.CAMPAIGN_CANCELED,
        (M.DECIDE, frozenset({P.DECIDE})): EventType.EXPERIMENT_DECIDED,
        (M.STOP, frozenset({P.DECIDE})): EventType.EXPERIMENT_DECIDED,  # the fallback ``stop``
    }  # a deleted template's stop reports nothing: the closing that follows does


def test_every_row_that_starts_chains_from_the_generation_read_is_guarded_by_it():
    for move, rows in PHASES.items():
        for one in rows:
            if one.chains in (Chains.PHASE, Chains.ON, Chains.AGAIN):
                assert one.guard is Guard.GENERATION, move


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"chains": Chains.PHASE, "to_phases": {P.SEND}}, "needs its guard"),
        ({"chains": Chains.PHASE, "guard": Guard.GENERATION}, "phase the move begins"),
        ({"effects": {Effect.LAUNCH}}, "only a move that starts chains"),
        ({"to_phases": {P.SEND}, "status": C.PAUSED}, "only a running campaign"),
        ({"stamps": ("launched_at",)}, "no time of the campaign"),
        ({"statuses": set()}, "starts somewhere"),
        ({"effects": {Effect.WATCH, Effect.UNWATCH}}, "not both"),
        ({"event": EventType.MESSAGE_SENT}, "no campaign's event"),
        ({"event": EventType.CAMPAIGN_COMPLETED}, "closing of the books"),
        (
            {
                "status": C.COMPLETED,
                "stamps": ("completed_at",),
                "event": EventType.CAMPAIGN_CANCELED,
            },
            "closing of the books",
        ),
        ({"phases": {P.SEND}, "event": EventType.EXPERIMENT_DECIDED}, "decide phase"),
    ],
)
def test_a_row_that_breaks_the_rules_cannot_be_built(fields, problem):
    given = {"statuses": {C.RUNNING}, "phases": ANY, "status": C.RUNNING, **fields}
    with pytest.raises(ValueError, match=problem):
        Row(**given)


def test_a_table_whose_rows_of_one_move_overlap_or_that_misses_a_move_is_refused():
    overlapping = {**PHASES, M.PAUSE: (*PHASES[M.PAUSE], Row({C.RUNNING}, {P.SEND}, C.PAUSED))}
    with pytest.raises(ValueError, match="same place"):
        phases._checked(overlapping)
    missing = {move: rows for move, rows in PHASES.items() if move is not M.CLOSE}
    with pytest.raises(ValueError, match="no row"):
        phases._checked(missing)
    (close,) = PHASES[M.CLOSE]
    silent = Row(close.statuses, close.phases, close.status, stamps=close.stamps)
    with pytest.raises(ValueError, match="no move reports"):
        phases._checked({**PHASES, M.CLOSE: (silent,)})  # an event no move reports


def campaign_at(
    status: CampaignStatus, phase: CampaignPhase | None, experiment: bool = False
) -> Campaign:
    return Campaign(
        campaign_id=clock.new_id("cmp"),
        app_id=APP_ID,
        name="Phases",
        template_id="TplPhases",
        audience="holders",
        status=status,
        phase=phase,
        generation=3,
        experiment=Experiment(test_percent=10, metric="click_rate", decide_after_minutes=5)
        if experiment
        else None,
        created_at=NOW,
    )


@pytest.mark.parametrize("move", list(M))
@pytest.mark.parametrize("status, phase", STAGES)
def test_a_move_is_refused_at_construction_from_where_no_row_starts(move, status, phase):
    campaign = campaign_at(status, phase)
    if phases.row(move, status, phase) is not None:
        CampaignTransition(campaign, move, NOW)  # built: allowed
        return
    with pytest.raises(ValueError, match="cannot"):
        CampaignTransition(campaign, move, NOW)


def test_a_transition_refuses_a_phase_its_row_does_not_reach_or_fields_the_move_sets():
    running = campaign_at(C.RUNNING, P.FREEZE)
    with pytest.raises(ValueError, match="cannot begin"):
        CampaignTransition(running, M.FROZEN, NOW, phase=P.FINISH)
    with pytest.raises(ValueError, match="keeps the phase"):
        CampaignTransition(running, M.PAUSE, NOW, phase=P.SEND)
    with pytest.raises(ValueError, match="sets"):
        CampaignTransition(running, M.PAUSE, NOW, {"status": "completed"})
    with pytest.raises(ValueError, match="sets"):
        CampaignTransition(campaign_at(C.RUNNING, P.SEND), M.STOP, NOW, {"stopped_at": NOW})


def test_the_phase_a_move_begins_follows_the_campaign():
    holders, listed = campaign_at(C.DRAFT, None), campaign_at(C.DRAFT, None, experiment=True)
    listed = listed.model_copy(update={"audience": "list"})
    assert CampaignTransition(holders, M.START, NOW).phase is P.FREEZE
    assert CampaignTransition(listed, M.START, NOW).phase is P.TEST
    frozen = campaign_at(C.RUNNING, P.FREEZE)
    assert CampaignTransition(frozen, M.FROZEN, NOW).phase is P.SEND
    tested = campaign_at(C.RUNNING, P.FREEZE, experiment=True)
    assert CampaignTransition(tested, M.FROZEN, NOW).phase is P.TEST
    finished = campaign_at(C.PAUSED, P.FINISH)
    assert CampaignTransition(finished, M.RESUME, NOW).phase is P.SEND  # withdrawn ones again
    stopped = finished.model_copy(update={"stopped_at": NOW})
    assert CampaignTransition(stopped, M.RESUME, NOW).phase is P.FINISH
    deciding = campaign_at(C.PAUSED, P.DECIDE)
    assert CampaignTransition(deciding, M.RESUME, NOW).phase is P.DECIDE


# Every row applied on the in-memory store ----------------------------------------------------


ENDPOINT_ID = "ep_every_event"


@pytest.fixture(scope="module")
def memory():
    services = bootstrap.build_in_memory(Settings(stage="test", send_queue_url="memory"))
    listening = Endpoint(  # every event type: each row's event lands in the outbox
        id=ENDPOINT_ID,
        app_id=APP_ID,
        url="https://example.com/hook",
        created_at=NOW,
        updated_at=NOW,
    )
    assert services.core.store.webhooks.put_endpoint(listening, new=True)
    return services.core


def stored(services, campaign: Campaign) -> Campaign:
    """The campaign item, one chain under way (shard 0) and the others ended."""
    item = services.store.campaigns.item(campaign)
    chains = {cursor_attribute(n): END for n in range(services.settings.campaign_shards)}
    chains[cursor_attribute(0)] = "under-way"
    services.store.table.write(Put({**item, **chains}))
    return campaign


def cursors(services, campaign: Campaign) -> dict[int, str]:
    loaded = services.store.campaigns.get(campaign.app_id, campaign.campaign_id)
    return loaded.cursors


def watched(services, campaign: Campaign) -> bool:
    return any(i["campaign_id"] == campaign.campaign_id for i in services.store.campaigns.watched())


def reported(services, campaign: Campaign) -> list[dict]:
    """The events in the outbox about the campaign: type and the campaign as reported."""
    found, _ = services.store.webhooks.deliveries(APP_ID, ENDPOINT_ID, None, 1000, None)
    return [
        {"type": d.type, **d.data["campaign"]}
        for d in found
        if d.data["campaign"]["campaign_id"] == campaign.campaign_id
    ]


ROWS = [
    (move, status, phase)
    for move in M
    for status, phase in STAGES
    if phases.row(move, status, phase) is not None
]


@pytest.mark.parametrize("move, status, phase", ROWS)
def test_every_row_applies_with_its_effects(memory, move, status, phase):
    campaign = stored(memory, campaign_at(status, phase))
    shards = memory.settings.campaign_shards
    if move is M.CLOSE or move is M.COMPLETE:
        memory.store.table.write(memory.store.campaigns.watch(campaign))
    memory.queue.messages.clear()
    transition = CampaignTransition(campaign, move, NOW)
    found = transition.row

    assert CampaignSteps(memory, campaign, NOW).apply(move)

    after = memory.store.campaigns.get(APP_ID, campaign.campaign_id).campaign
    assert after.status is found.status
    assert after.phase is (transition.phase or phase)
    for stamp in found.stamps:
        assert getattr(after, stamp) == NOW, stamp
    assert after.generation == campaign.generation + (found.chains is not Chains.KEEP)
    first = {
        Chains.PHASE: START if transition.phase in CHAINED else END,
        Chains.AGAIN: START,
        Chains.WITHDRAW: START,
        Chains.ENDED: END,
    }.get(found.chains)
    expected = (
        dict.fromkeys(range(shards), first)
        if first is not None
        else {n: "under-way" if n == 0 else END for n in range(shards)}
    )
    assert cursors(memory, campaign) == expected
    if Effect.WATCH in found.effects:
        assert watched(memory, campaign)
    if Effect.UNWATCH in found.effects:
        assert not watched(memory, campaign)
    launched = [json.loads(m.body) for m in memory.queue.messages]
    if Effect.LAUNCH in found.effects:
        kind = WITHDRAWAL_KIND if found.status is C.CANCELED else PAGE_KIND
        running = [n for n, cursor in expected.items() if cursor != END]
        assert sorted(s["shard"] for s in launched) == running
        assert {s["kind"] for s in launched} <= {kind}
        assert {s["generation"] for s in launched} <= {after.generation}
    else:
        assert launched == []
    events = reported(memory, campaign)
    if found.event is None:
        assert events == []
    else:
        (event,) = events  # in the move's transaction, the campaign as the move left it
        assert event["type"] is found.event and found.event in CAMPAIGN_EVENTS
        assert (event["status"], event["phase"]) == (after.status, after.phase)
        for stamp in found.stamps:
            assert datetime.fromisoformat(event[stamp]) == NOW, stamp


@pytest.mark.parametrize("move, status, phase", ROWS)
def test_a_row_guarded_by_the_generation_does_nothing_once_another_generation_runs(
    memory, move, status, phase
):
    campaign = stored(memory, campaign_at(status, phase))
    stale = campaign.model_copy(update={"generation": campaign.generation - 1})
    memory.queue.messages.clear()

    applied = CampaignSteps(memory, stale, NOW).apply(move)

    guarded = phases.row(move, status, phase).guard is Guard.GENERATION
    assert applied is not guarded  # the API's moves win over whatever chains run
    if guarded:
        after = memory.store.campaigns.get(APP_ID, campaign.campaign_id).campaign
        assert (after.status, after.phase, after.generation) == (status, phase, 3)
        assert memory.queue.messages == []
        assert reported(memory, campaign) == []  # the event goes with the move, or not at all


def test_a_move_from_a_status_the_campaign_left_does_nothing(memory):
    campaign = stored(memory, campaign_at(C.RUNNING, P.SEND))
    assert CampaignSteps(memory, campaign, NOW).apply(M.PAUSE)
    # A second actor read it running before the pause: its pause and its phase move both lose.
    assert not CampaignSteps(memory, campaign, NOW).apply(M.PAUSE)
    assert not CampaignSteps(memory, campaign, NOW).apply(M.SENT)
    after = memory.store.campaigns.get(APP_ID, campaign.campaign_id).campaign
    assert (after.status, after.phase) == (C.PAUSED, P.SEND)


@pytest.mark.parametrize("move, status", [(M.START, C.DRAFT), (M.BEGIN, C.SCHEDULED)])
def test_a_throttled_campaign_s_slots_start_at_its_send_at_even_when_begun_early(
    memory, move, status
):
    send_at = NOW + timedelta(seconds=40)  # the tick begins it up to a sweep interval early
    early = campaign_at(status, None).model_copy(update={"rate_per_minute": 60, "send_at": send_at})
    assert CampaignSteps(memory, stored(memory, early), NOW).apply(move)
    after = memory.store.campaigns.get(APP_ID, early.campaign_id).campaign
    assert after.next_slot_us == int(send_at.timestamp() * 1_000_000)
    unthrottled = stored(memory, campaign_at(status, None))
    assert CampaignSteps(memory, unthrottled, NOW).apply(move)
    assert memory.store.campaigns.get(APP_ID, unthrottled.campaign_id).campaign.next_slot_us is None
    late = stored(memory, early.model_copy(update={"campaign_id": clock.new_id("cmp")}))
    assert CampaignSteps(memory, late, send_at + timedelta(seconds=5)).apply(move)
    moved = memory.store.campaigns.get(APP_ID, late.campaign_id).campaign
    assert moved.next_slot_us == int((send_at + timedelta(seconds=5)).timestamp() * 1_000_000)
