"""The best send time, simulated (docs/engagement.md#the-simulation-in-make-bench): a population
whose users each have a known active hour and click with a probability that peaks there. The same
users get a card sent now (at 10:00 local, when an operator would press send) and one at their best
time; the lift is the ratio of the two expected click rates. In process, through the activity
service and the same best-time choice POST /v1/messages makes, on the in-memory store."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib import bootstrap
from chalicelib.domain import clock
from chalicelib.domain.records import Category, Template, TemplateKind
from chalicelib.services import activity, admin
from chalicelib.services.commands import ActivityEvent
from chalicelib.settings import Settings

USERS = 2_000
SEED = 20261202
ZONE = "Asia/Shanghai"
SEND_HOUR = 10  # send-now: 10:00 local
WITHIN_HOURS = 24
HISTORY_DAYS = 28
# Where users' habits fall (weights): breakfast, lunch, the commute home, the evening, late.
HABITS = {8: 1, 9: 1, 12: 3, 13: 2, 18: 2, 19: 3, 20: 4, 21: 3, 22: 1, 23: 1}
SPREAD_H = 1.5  # how far around their hour a user's activity and clicks spread
BASE_CLICK = 0.03
PEAK_CLICK = 0.12
EVENTS_MEAN = 8  # events a user reported over the history, Poisson: some have fewer than 5


@dataclass
class Lift:
    users: int
    now_rate: float
    best_rate: float
    reasons: dict[str, int]
    delayed_hours_mean: float

    @property
    def lift(self) -> float:
        return self.best_rate / self.now_rate - 1


def click_probability(hour: float, habit: int) -> float:
    distance = min(abs(hour - habit), 24 - abs(hour - habit))
    return BASE_CLICK + PEAK_CLICK * math.exp(-(distance**2) / (2 * SPREAD_H**2))


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _send_now_moment() -> datetime:
    """The latest 10:00 in Shanghai before the wall clock (activity must lie in the past)."""
    local = clock.now().astimezone(ZoneInfo(ZONE))
    moment = local.replace(hour=SEND_HOUR, minute=0, second=0, microsecond=0)
    if moment > local:
        moment -= timedelta(days=1)
    return moment.astimezone(UTC)


def _local_hour(instant: datetime) -> float:
    local = instant.astimezone(ZoneInfo(ZONE))
    return local.hour + local.minute / 60


def measure(users: int = USERS) -> Lift:
    rng = random.Random(SEED)
    services = bootstrap.build_in_memory(Settings())
    app = admin.new_app("wxbench00000000001", "Engagement bench")
    admin.create_app(services.app_secrets, app, "made-up-bench-secret")
    template = Template(
        app_id=app.app_id,
        template_id="TplBenchReminder000000000000000000000000001",
        title="Reminder",
        kind=TemplateKind.ONE_TIME,
        category=Category.REMINDER,
        keywords=[],
        updated_at=clock.now(),
    )
    now = _send_now_moment()
    habits = rng.choices(list(HABITS), weights=list(HABITS.values()), k=users)
    openids = [f"oBench{n:06d}" for n in range(users)]
    events: list[ActivityEvent] = []
    for openid, habit in zip(openids, habits, strict=True):
        for _ in range(_poisson(rng, EVENTS_MEAN)):
            day = now - timedelta(days=rng.randint(1, HISTORY_DAYS))
            local = day.astimezone(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0)
            hours = (habit + rng.gauss(0, SPREAD_H)) % 24
            at = (local + timedelta(hours=hours)).astimezone(UTC)
            events.append(ActivityEvent(openid=openid, at=at, kind="open"))
    for first in range(0, len(events), 500):
        activity.record(services.core, app, events[first : first + 500])

    now_clicks = best_clicks = delayed_h = 0.0
    reasons: Counter[str] = Counter()
    for openid, habit in zip(openids, habits, strict=True):
        state = services.core.store.users.load(app.app_id, openid)
        best, reason = activity.best_time(
            services.core, app, template, state, WITHIN_HOURS, False, now
        )
        reasons[reason.value] += 1
        now_clicks += click_probability(SEND_HOUR, habit)
        best_clicks += click_probability(_local_hour(best), habit)
        delayed_h += (best - now).total_seconds() / 3600
    return Lift(
        users=users,
        now_rate=now_clicks / users,
        best_rate=best_clicks / users,
        reasons=dict(reasons),
        delayed_hours_mean=delayed_h / users,
    )
