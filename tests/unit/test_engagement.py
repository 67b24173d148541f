"""The engagement rules (domain/engagement.py): the decayed histogram, the best send time and
the marketing budget, on plain values."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import engagement as rules
from chalicelib.domain.engagement import (
    BudgetReason,
    Window,
    best_send_time,
    candidates,
    decayed,
    hour_of_week,
    marketing_budget,
    smoothed,
    tally,
)
from chalicelib.domain.policy import cap_window, quiet_until
from chalicelib.domain.records import CapPeriod, QuietHours
from chalicelib.domain.users import Engagement

SHANGHAI = "Asia/Shanghai"
NIGHT = QuietHours(start=time(22, 0), end=time(8, 0))
# Monday 2026-11-23 09:10 in Shanghai.
NOW = datetime(2026, 11, 23, 1, 10, tzinfo=UTC)
ZONES = st.sampled_from(
    [SHANGHAI, "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
)
QUIET = st.one_of(
    st.none(),
    st.builds(
        QuietHours,
        start=st.sampled_from([time(h, m) for h in range(24) for m in (0, 30)]),
        end=st.sampled_from([time(h, m) for h in range(24) for m in (0, 30)]),
    ),
)
HISTOGRAMS = st.lists(
    st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=168, max_size=168
)


def local(instant: datetime, zone: str = SHANGHAI) -> datetime:
    return instant.astimezone(ZoneInfo(zone))


def at_local(text: str, zone: str = SHANGHAI) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


# The histogram --------------------------------------------------------------------------------


def test_an_event_lands_in_its_local_weekday_and_hour():
    # Sunday 23:30 in UTC is Monday 07:30 in Shanghai: Monday is hour 0 of the week.
    moment = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert hour_of_week(moment, SHANGHAI) == 7
    assert hour_of_week(moment, "UTC") == 6 * 24 + 23


def test_an_event_weighs_half_as_much_one_half_life_later():
    event = datetime(2026, 10, 1, 12, tzinfo=UTC)
    counted = tally([event], "UTC")
    hours = decayed(counted.weights, event + rules.HALF_LIFE)
    assert sum(hours) == pytest.approx(0.5)
    assert counted.events == 1


def test_decay_never_changes_which_hour_leads():
    events = [datetime(2026, 11, 2, 7, tzinfo=UTC)] * 3 + [datetime(2026, 11, 20, 13, tzinfo=UTC)]
    weights = tally(events, "UTC").weights
    soon, later = decayed(weights, NOW), decayed(weights, NOW + timedelta(days=200))
    assert soon.index(max(soon)) == later.index(max(later))
    ratio = [b / a for a, b in zip(soon, later, strict=True) if a]
    assert max(ratio) == pytest.approx(min(ratio))


def test_events_of_two_eras_add_up_as_if_they_were_one():
    boundary = rules.EPOCH + rules.ERA
    before, after = boundary - timedelta(days=1), boundary + timedelta(days=1)
    counted = tally([before, after], "UTC")
    assert {era for era, _ in counted.weights} == {0, 1}
    hours = decayed(counted.weights, after)
    assert sum(hours) == pytest.approx(1 + 2 ** (-2 / 28))


def test_smoothing_spreads_an_hour_to_its_neighbours_and_to_the_same_hour_on_other_days():
    hours = [0.0] * 168
    hours[15] = 1.0  # Monday 15:00
    scores = smoothed(hours)
    assert scores[15] > scores[14] == scores[16] > 0
    assert scores[24 + 15] > scores[24 + 12]  # Tuesday 15:00 beats Tuesday 12:00
    assert scores[15] > scores[24 + 15]


# Candidates and the best send time ----------------------------------------------------------


def test_candidates_are_now_then_each_local_hour_start_in_the_window():
    found = candidates(NOW, 3, SHANGHAI)
    assert found == [
        NOW,
        at_local("2026-11-23T10:00"),
        at_local("2026-11-23T11:00"),
        at_local("2026-11-23T12:00"),
    ]


def test_candidates_in_a_half_hour_zone_start_on_its_local_hours():
    found = candidates(NOW, 5, "Asia/Kolkata")
    assert all(local(c, "Asia/Kolkata").minute == 0 for c in found[1:])


def test_candidates_across_a_dst_change_are_each_hour_once():
    # New York falls back on 2026-11-01 at 02:00: the hour 01:00 comes twice.
    start = at_local("2026-10-31T23:30", "America/New_York")
    found = candidates(start, 5, "America/New_York")
    assert len(found) == len(set(found)) == 6
    assert found == sorted(found)


def test_the_users_hour_wins():
    hours = [0.0] * 168
    hours[15] = 5.0  # Monday 15:00
    window = Window(SHANGHAI, NIGHT)
    assert best_send_time(NOW, 24, window, smoothed(hours)) == at_local("2026-11-23T15:00")


def test_an_hour_in_quiet_hours_is_never_chosen():
    hours = [0.0] * 168
    hours[23] = 9.0  # Monday 23:00, quiet
    best = best_send_time(NOW, 24, Window(SHANGHAI, NIGHT), smoothed(hours))
    assert quiet_until(best, SHANGHAI, NIGHT) is None
    assert local(best).hour == 21  # the nearest awake hour takes the smoothed share


def test_a_window_that_is_all_quiet_waits_for_the_morning():
    late = at_local("2026-11-23T23:10")
    best = best_send_time(late, 2, Window(SHANGHAI, NIGHT), None)
    assert best == at_local("2026-11-24T08:00")


def test_without_scores_the_card_goes_at_once_unless_quiet():
    assert best_send_time(NOW, 24, Window(SHANGHAI, NIGHT), None) == NOW


def test_a_full_cap_window_moves_the_card_to_a_window_with_room():
    hours = [0.0] * 168
    hours[15] = 5.0
    hours[24 + 10] = 1.0  # Tuesday 10:00 is second best
    today = cap_window(NOW, SHANGHAI, CapPeriod.DAY).key
    window = Window(SHANGHAI, NIGHT, CapPeriod.DAY, frozenset({today}))
    assert local(best_send_time(NOW, 36, window, smoothed(hours))).date().isoformat() == (
        "2026-11-24"
    )


@given(
    now=INSTANTS,
    within=st.integers(min_value=1, max_value=72),
    zone=ZONES,
    quiet=QUIET,
    hours=st.one_of(st.none(), HISTOGRAMS),
)
def test_the_best_time_is_the_first_top_awake_hour_of_the_window_or_the_end_of_quiet(
    now, within, zone, quiet, hours
):
    window = Window(zone, quiet)
    best = best_send_time(now, within, window, hours)

    assert best == best_send_time(now, within, window, hours)  # same data, same answer
    awake = [c for c in candidates(now, within, zone) if quiet_until(c, zone, quiet) is None]
    if not awake:  # every hour of the window starts quiet: the card waits for the end
        assert best == quiet_until(now, zone, quiet)
        assert quiet_until(best, zone, quiet) is None
        return
    assert best in awake
    assert now <= best < now + timedelta(hours=within)
    if hours is None:
        assert best == awake[0]
        return
    top = max(hours[hour_of_week(c, zone)] for c in awake)
    first_top = next(c for c in awake if hours[hour_of_week(c, zone)] == top)
    assert best == first_top  # the highest score; ties: the earliest


# The marketing budget -------------------------------------------------------------------------


def test_the_budget_is_the_base_without_engagement():
    assert marketing_budget(1, Engagement(), NOW, True) == rules.Budget(1, BudgetReason.BASE)


def test_a_click_within_28_days_adds_one():
    clicked = Engagement(last_click_at=NOW - timedelta(days=27))
    budget = marketing_budget(1, clicked, NOW, True)
    assert (budget.per_week, budget.reason) == (2, BudgetReason.ENGAGED)
    assert budget.until == NOW + timedelta(days=1)
    old = Engagement(last_click_at=NOW - timedelta(days=28))
    assert marketing_budget(1, old, NOW, True).reason is BudgetReason.BASE


def test_three_unclicked_marketing_cards_make_it_zero_for_14_days():
    tired = Engagement(unclicked=3, last_unclicked_at=NOW - timedelta(days=13))
    budget = marketing_budget(1, tired, NOW, True)
    assert (budget.per_week, budget.reason) == (0, BudgetReason.FATIGUED)
    assert budget.until == NOW + timedelta(days=1)
    assert marketing_budget(1, tired, NOW + timedelta(days=1), True).reason is BudgetReason.BASE
    two = Engagement(unclicked=2, last_unclicked_at=NOW)
    assert marketing_budget(1, two, NOW, True).reason is BudgetReason.BASE


def test_a_switch_off_makes_it_zero_for_14_days_even_for_an_engaged_user():
    off = Engagement(switched_off_at=NOW - timedelta(days=1), last_click_at=NOW)
    budget = marketing_budget(2, off, NOW, True)
    assert (budget.per_week, budget.reason) == (0, BudgetReason.SWITCHED_OFF)
    assert budget.until == NOW + timedelta(days=13)


def test_without_adaptive_marketing_the_budget_is_the_base_whatever_happened():
    tired = Engagement(unclicked=5, last_unclicked_at=NOW, switched_off_at=NOW)
    assert marketing_budget(1, tired, NOW, False) == rules.Budget(1, BudgetReason.BASE)


def test_an_app_without_a_marketing_cap_keeps_no_limit_for_the_engaged():
    clicked = Engagement(last_click_at=NOW)
    assert marketing_budget(None, clicked, NOW, True).per_week is None


# On the in-memory store -----------------------------------------------------------------------


def test_activity_adds_up_on_the_in_memory_store_too():
    from chalicelib import bootstrap
    from chalicelib.domain import clock
    from chalicelib.services import activity, admin
    from chalicelib.services.commands import ActivityEvent
    from chalicelib.settings import Settings

    services = bootstrap.build_in_memory(Settings())
    app = admin.new_app("wx0000000000000009", "Memory")
    admin.create_app(services.app_secrets, app, "made-up-secret")
    now = clock.now()  # the pinned clock
    moment = now - timedelta(days=1)
    for _ in range(2):
        event = ActivityEvent(openid="oMemory", at=moment, kind="open")
        assert activity.record(services.core, app, [event]) == 1
    found = services.core.store.users.load(app.app_id, "oMemory").engagement
    assert found.events == 2
    hours = decayed(found.weights, moment)
    assert sum(hours) == pytest.approx(2, rel=1e-9)
    assert services.core.store.engagement.app_tally(app.app_id).events == 2
