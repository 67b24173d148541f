from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.policy import (
    cap_window,
    exempt_from_quiet_hours,
    next_daily_quota_reset,
    opted_out,
    quiet_until,
    retry_delay_s,
    should_prompt,
    user_timezone,
    valid_timezone,
)
from chalicelib.domain.records import (
    App,
    CapPeriod,
    Category,
    LongTermStatus,
    QuietHours,
    Template,
    TemplateKind,
)
from chalicelib.domain.users import GrantState, Preferences

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
NIGHT = QuietHours(start=time(22, 0), end=time(8, 0))
LUNCH = QuietHours(start=time(12, 0), end=time(14, 0))
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def make_template(kind: TemplateKind = TemplateKind.ONE_TIME, target_credits: int = 1) -> Template:
    return Template(
        app_id="wx0000000000000001",
        template_id="tmpl-order-shipped",
        title="Order shipped",
        kind=kind,
        category=Category.TRANSACTIONAL,
        keywords=[],
        target_credits=target_credits,
        updated_at=NOW,
    )


def refused(days_ago: float, long_term: LongTermStatus | None = None) -> GrantState:
    return GrantState(
        template_id="tmpl-order-shipped",
        long_term=long_term,
        last_refusal_at=NOW - timedelta(days=days_ago),
    )


@pytest.mark.parametrize(
    ("now", "timezone", "quiet", "expected"),
    [
        # Wrapping window 22:00-08:00 in Shanghai (UTC+8).
        ("2026-11-22T22:00:00+08:00", SHANGHAI, NIGHT, "2026-11-23T08:00:00+08:00"),
        ("2026-11-22T21:59:59+08:00", SHANGHAI, NIGHT, None),
        ("2026-11-22T08:00:00+08:00", SHANGHAI, NIGHT, None),
        ("2026-11-22T07:59:59+08:00", SHANGHAI, NIGHT, "2026-11-22T08:00:00+08:00"),
        ("2026-11-22T03:00:00+08:00", SHANGHAI, NIGHT, "2026-11-22T08:00:00+08:00"),
        ("2026-11-22T23:59:59+08:00", SHANGHAI, NIGHT, "2026-11-23T08:00:00+08:00"),
        # UTC is still the previous evening while Shanghai is already inside the window.
        ("2026-11-22T23:30:00+00:00", SHANGHAI, NIGHT, "2026-11-23T00:00:00+00:00"),
        # The same UTC instant is mid-afternoon in New York: outside the window.
        ("2026-11-22T20:30:00+00:00", NEW_YORK, NIGHT, None),
        # Non-wrapping window 12:00-14:00.
        ("2026-11-22T12:00:00+08:00", SHANGHAI, LUNCH, "2026-11-22T14:00:00+08:00"),
        ("2026-11-22T11:59:59+08:00", SHANGHAI, LUNCH, None),
        ("2026-11-22T14:00:00+08:00", SHANGHAI, LUNCH, None),
        ("2026-11-22T13:30:00+08:00", SHANGHAI, LUNCH, "2026-11-22T14:00:00+08:00"),
        ("2026-11-22T23:00:00+08:00", SHANGHAI, LUNCH, None),
        # New York springs forward at 02:00 on 2026-03-08: the night is one hour shorter.
        ("2026-03-07T23:00:00-05:00", NEW_YORK, NIGHT, "2026-03-08T08:00:00-04:00"),
        # New York falls back at 02:00 on 2026-11-01: the night is one hour longer.
        ("2026-10-31T23:00:00-04:00", NEW_YORK, NIGHT, "2026-11-01T08:00:00-05:00"),
        # An end of 02:30 does not exist on the spring day: the window ends at 03:00 EDT.
        (
            "2026-03-08T01:00:00-05:00",
            NEW_YORK,
            QuietHours(start=time(22, 0), end=time(2, 30)),
            "2026-03-08T03:00:00-04:00",
        ),
        # 01:30 happens twice on the autumn day: the first pass ends a window entered at 00:45.
        (
            "2026-11-01T00:45:00-04:00",
            NEW_YORK,
            QuietHours(start=time(0, 30), end=time(1, 30)),
            "2026-11-01T01:30:00-04:00",
        ),
        # ...and a window entered during the repeated hour ends at the second 01:30.
        (
            "2026-11-01T01:10:00-05:00",
            NEW_YORK,
            QuietHours(start=time(0, 30), end=time(1, 30)),
            "2026-11-01T01:30:00-05:00",
        ),
        ("2026-11-22T23:00:00+08:00", SHANGHAI, None, None),
        ("2026-11-22T23:00:00+08:00", SHANGHAI, QuietHours(start=time(9), end=time(9)), None),
    ],
)
def test_quiet_until_answers_the_end_of_the_window_in_the_users_timezone(
    now: str, timezone: str, quiet: QuietHours | None, expected: str | None
) -> None:
    result = quiet_until(utc(now), timezone, quiet)

    assert result == (utc(expected) if expected else None)
    assert result is None or result.tzinfo is UTC


def test_quiet_until_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        quiet_until(datetime(2026, 11, 22, 23, 0), SHANGHAI, NIGHT)


@pytest.mark.parametrize(
    ("category", "urgent", "exempt"),
    [
        (Category.TRANSACTIONAL, False, True),
        (Category.TRANSACTIONAL, True, True),
        (Category.REMINDER, True, True),
        (Category.MARKETING, True, True),
        (Category.REMINDER, False, False),
        (Category.MARKETING, False, False),
    ],
)
def test_only_transactional_or_urgent_messages_ignore_quiet_hours(
    category: Category, urgent: bool, exempt: bool
) -> None:
    assert exempt_from_quiet_hours(category, urgent) is exempt


@pytest.mark.parametrize(
    ("now", "timezone", "period", "key", "ends_at"),
    [
        # Sunday 23:59 and Monday 00:00 in Shanghai fall in different weeks.
        ("2026-11-22T23:59:00+08:00", SHANGHAI, CapPeriod.WEEK, "w2026-11-16", "2026-11-23"),
        ("2026-11-23T00:00:00+08:00", SHANGHAI, CapPeriod.WEEK, "w2026-11-23", "2026-11-30"),
        ("2026-11-25T12:00:00+08:00", SHANGHAI, CapPeriod.WEEK, "w2026-11-23", "2026-11-30"),
        # 16:30 UTC on the 21st is already the 22nd in Shanghai.
        ("2026-11-21T16:30:00+00:00", SHANGHAI, CapPeriod.DAY, "d2026-11-22", "2026-11-23"),
        ("2026-11-21T15:59:59+00:00", SHANGHAI, CapPeriod.DAY, "d2026-11-21", "2026-11-22"),
        # The same instant is still Saturday in New York.
        ("2026-11-21T16:30:00+00:00", NEW_YORK, CapPeriod.DAY, "d2026-11-21", "2026-11-22"),
        # DST days in New York last 23 and 25 hours; the windows still end at local midnight.
        ("2026-03-08T01:00:00-05:00", NEW_YORK, CapPeriod.DAY, "d2026-03-08", "2026-03-09"),
        ("2026-11-01T12:00:00-05:00", NEW_YORK, CapPeriod.DAY, "d2026-11-01", "2026-11-02"),
        ("2026-10-28T12:00:00-04:00", NEW_YORK, CapPeriod.WEEK, "w2026-10-26", "2026-11-02"),
    ],
)
def test_cap_window_is_the_local_day_or_the_week_starting_monday(
    now: str, timezone: str, period: CapPeriod, key: str, ends_at: str
) -> None:
    window = cap_window(utc(now), timezone, period)

    local_midnight = datetime.fromisoformat(ends_at).replace(tzinfo=ZoneInfo(timezone))
    assert window.key == key
    assert window.ends_at == local_midnight.astimezone(UTC)
    assert window.ends_at.tzinfo is UTC


def test_cap_window_ends_when_a_skipped_midnight_would_have_come() -> None:
    # Sao Paulo jumped from 00:00 to 01:00 on 2018-11-04.
    window = cap_window(utc("2018-11-03T12:00:00-03:00"), "America/Sao_Paulo", CapPeriod.DAY)

    assert window.key == "d2018-11-03"
    assert window.ends_at == utc("2018-11-04T01:00:00-02:00")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-22T00:04:00+08:00", "2026-11-22T00:05:00+08:00"),
        ("2026-11-22T00:05:00+08:00", "2026-11-23T00:05:00+08:00"),
        ("2026-11-22T23:59:00+08:00", "2026-11-23T00:05:00+08:00"),
        ("2026-11-22T12:00:00+00:00", "2026-11-23T00:05:00+08:00"),
    ],
)
def test_daily_quota_resets_at_the_next_five_past_midnight_in_shanghai(
    now: str, expected: str
) -> None:
    assert next_daily_quota_reset(utc(now)) == utc(expected)


@pytest.mark.parametrize(
    ("attempt", "base_s", "cap_s", "expected"),
    [
        (1, 5, 900, 5),
        (2, 5, 900, 10),
        (4, 5, 900, 40),
        (8, 5, 900, 640),
        (9, 5, 900, 900),
        (50, 5, 900, 900),
        (3, 30, 60, 60),
        (1, 1000, 900, 900),
    ],
)
def test_retry_delay_doubles_with_each_attempt_up_to_the_cap(
    attempt: int, base_s: int, cap_s: int, expected: int
) -> None:
    assert retry_delay_s(attempt, base_s, cap_s) == expected


def test_retry_delay_caps_at_fifteen_minutes_by_default() -> None:
    assert retry_delay_s(20, 10) == 900


def test_retry_delay_rejects_attempts_below_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        retry_delay_s(0, 5)


@pytest.mark.parametrize(
    ("template", "credits", "state", "expected"),
    [
        (make_template(), 0, None, (True, "below_target")),
        (make_template(), 1, None, (False, "enough_credits")),
        (make_template(target_credits=3), 2, None, (True, "below_target")),
        (make_template(target_credits=3), 4, None, (False, "enough_credits")),
        (make_template(target_credits=0), 0, None, (False, "enough_credits")),
        (make_template(), 0, refused(days_ago=6.9), (False, "recently_refused")),
        (make_template(), 0, refused(days_ago=7), (True, "below_target")),
        (make_template(), 0, refused(days_ago=30), (True, "below_target")),
        (make_template(), 5, refused(days_ago=30), (False, "enough_credits")),
        # A long-term status means nothing for a one-time template.
        (
            make_template(),
            0,
            GrantState(template_id="tmpl-order-shipped", long_term=LongTermStatus.ACTIVE),
            (True, "below_target"),
        ),
        (
            make_template(TemplateKind.LONG_TERM),
            0,
            GrantState(template_id="tmpl-order-shipped", long_term=LongTermStatus.ACTIVE),
            (False, "long_term_active"),
        ),
        (
            make_template(TemplateKind.LONG_TERM),
            0,
            refused(days_ago=1, long_term=LongTermStatus.REJECTED),
            (False, "recently_refused"),
        ),
        (
            make_template(TemplateKind.LONG_TERM),
            0,
            refused(days_ago=8, long_term=LongTermStatus.REJECTED),
            (True, "not_subscribed"),
        ),
        # Credits do not count for long-term templates.
        (make_template(TemplateKind.LONG_TERM), 5, None, (True, "not_subscribed")),
    ],
)
def test_should_prompt_follows_credits_refusals_and_long_term_status(
    template: Template, credits: int, state: GrantState | None, expected: tuple[bool, str]
) -> None:
    assert should_prompt(template, credits, state, NOW) == expected


def test_should_prompt_remembers_refusals_for_the_given_period() -> None:
    state = refused(days_ago=10)

    remembered = should_prompt(make_template(), 0, state, NOW, refusal_memory=timedelta(days=14))
    forgotten = should_prompt(make_template(), 0, state, NOW, refusal_memory=timedelta(days=9))

    assert remembered == (False, "recently_refused")
    assert forgotten == (True, "below_target")


@pytest.mark.parametrize(
    ("prefs", "category", "template_id", "expected"),
    [
        (Preferences(), Category.MARKETING, "tmpl-a", False),
        (Preferences(opt_out_all=True), Category.TRANSACTIONAL, "tmpl-a", True),
        (Preferences(opt_out_categories=[Category.MARKETING]), Category.MARKETING, "tmpl-a", True),
        (Preferences(opt_out_categories=[Category.MARKETING]), Category.REMINDER, "tmpl-a", False),
        (Preferences(opt_out_templates=["tmpl-a"]), Category.REMINDER, "tmpl-a", True),
        (Preferences(opt_out_templates=["tmpl-a"]), Category.REMINDER, "tmpl-b", False),
    ],
)
def test_opted_out_covers_everything_a_category_or_a_template(
    prefs: Preferences, category: Category, template_id: str, expected: bool
) -> None:
    assert opted_out(prefs, category, template_id) is expected


@pytest.mark.parametrize(
    ("prefs", "expected"),
    [
        (None, SHANGHAI),
        (Preferences(), SHANGHAI),
        (Preferences(timezone=NEW_YORK), NEW_YORK),
    ],
)
def test_user_timezone_prefers_the_users_own_over_the_apps(
    prefs: Preferences | None, expected: str
) -> None:
    app = App(app_id="wx0000000000000001", name="Shop", timezone=SHANGHAI, created_at=NOW)

    assert user_timezone(prefs, app) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (SHANGHAI, True),
        (NEW_YORK, True),
        ("UTC", True),
        ("Mars/Olympus_Mons", False),
        ("America", False),
        ("", False),
        ("../etc/passwd", False),
        ("localtime", False),
    ],
)
def test_valid_timezone_accepts_only_named_zones(name: str, expected: bool) -> None:
    assert valid_timezone(name) is expected


# Zones with one-hour, half-hour and midnight DST changes; none skips a whole day.
ZONES = st.sampled_from(
    [SHANGHAI, NEW_YORK, "Europe/London", "Australia/Lord_Howe", "America/Sao_Paulo", "UTC"]
)
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
)
WALL_TIMES = st.times().map(lambda wall: wall.replace(microsecond=0))


def wall_time_exists(day: datetime, wall: time, timezone: str) -> bool:
    local = datetime.combine(day.date(), wall, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(
        tzinfo=None
    )


@given(now=INSTANTS, timezone=ZONES, start=WALL_TIMES, end=WALL_TIMES)
def test_quiet_until_ends_after_now_within_a_day_at_the_local_end_time(
    now: datetime, timezone: str, start: time, end: time
) -> None:
    quiet = QuietHours(start=start, end=end)

    result = quiet_until(now, timezone, quiet)

    if result is None:
        return
    # At most a day of wall-clock time, plus the hour a DST change can add.
    assert now < result <= now + timedelta(hours=25)
    local_end = result.astimezone(ZoneInfo(timezone))
    if wall_time_exists(local_end, end, timezone):
        assert local_end.time() == end
        assert quiet_until(result, timezone, quiet) is None
    else:
        before = result - timedelta(microseconds=1)
        assert before.astimezone(local_end.tzinfo).utcoffset() != local_end.utcoffset()


@given(
    now=INSTANTS,
    timezone=ZONES,
    period=st.sampled_from(list(CapPeriod)),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_cap_window_key_holds_until_the_window_ends(
    now: datetime, timezone: str, period: CapPeriod, fraction: float
) -> None:
    window = cap_window(now, timezone, period)

    last_instant = window.ends_at - timedelta(microseconds=1)
    later = min(now + (window.ends_at - now) * fraction, last_instant)
    assert window.ends_at > now
    assert cap_window(later, timezone, period) == window
    assert cap_window(window.ends_at, timezone, period).key != window.key
