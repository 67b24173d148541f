"""`submsg report` against moto (the page's numbers, its escaping, nothing loaded from elsewhere,
the campaigns with their experiment, the operator's mistakes) and the sparklines of `submsg
stats`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chalicelib import bootstrap
from chalicelib.domain import clock
from chalicelib.domain.statistics import Counter
from cli.report_campaigns import p_value_text
from tests.flows.test_flow_campaigns import run as run_the_pipeline
from tests.integration.test_cli import (
    assert_operator_error,
    invoke,
    lines_at,
    protect_target_variables,
)
from tests.support.clocks import app_day
from tests.support.tenants import APP_ID, TEMPLATE

PROMO = "TplPromotion000000000000000000000000000001"
EVENT = "TplEventStarts000000000000000000000000000001"
HOSTILE = '<script>alert("title")</script>'


@pytest.fixture
def run(aws, monkeypatch):
    protect_target_variables(monkeypatch)
    return invoke


def today() -> date:
    """The app's day now, on the test's pinned clock."""
    return date.fromisoformat(app_day(clock.now()))


def week() -> list[str]:
    """The seven days a report covers by default, oldest first."""
    return [(today() - timedelta(days=back)).isoformat() for back in range(6, -1, -1)]


def shown(part: int, whole: int) -> str:
    """A rate as the page shows it: the API's (rounded to 4 places), in percent to 0.1."""
    return f"{round(part / whole, 4):.1%}"


def count(services, day: str, template_id: str, **counts: int) -> None:
    named = {Counter(name): n for name, n in counts.items()}  # ValueError for a typo
    services.core.store.table.write(
        services.core.store.counters.increment(APP_ID, day, template_id, named)
    )


class VisibleText(HTMLParser):
    """The words a reader sees, in order (no style sheet, no tooltip)."""

    HIDDEN = frozenset({"style", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in self.HIDDEN

    def handle_endtag(self, tag):
        self.hidden -= tag in self.HIDDEN

    def handle_data(self, data):
        if not self.hidden:
            self.words.extend(data.split())


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.words)


def report(run, tmp_path: Path, *options: str) -> str:
    out = tmp_path / "report.html"
    result = run("report", APP_ID, "--out", str(out), *options)
    assert result.exit_code == 0, result.output
    assert str(out) in result.stderr
    return out.read_text(encoding="utf-8")


# Realistic data: three templates over a week, and a campaign whose experiment was decided --


def seed_week(api, services) -> None:
    """Three templates and a week of their counters, every day different."""
    api.put_template(TEMPLATE, title="Order shipped")
    api.put_template(PROMO, title="Winter promotion", category="reminder")
    api.put_template(EVENT, title="活动开始提醒", category="reminder")
    for index, day in enumerate(week()):
        requested = 900 + 130 * (index % 4) + 40 * index
        sent = requested - 25 - 9 * (index % 3)
        clicked = sent // 11 + 6 * (index % 3)
        count(
            services,
            day,
            TEMPLATE,
            requested=requested,
            sent=sent,
            failed=8 + index % 4,
            skipped=17,
            clicked=clicked,
            converted=clicked // 5 + index % 2,
            grants_received=300 + 11 * index,
            grants_expired=12,
        )
        count(services, day, PROMO, requested=300 + 25 * index, sent=280 + 24 * index, failed=6)
        count(services, day, PROMO, clicked=20 + 3 * (index % 4), converted=3 + index % 3)
        count(services, day, EVENT, requested=60 + 10 * (index % 2), sent=58, clicked=9, failed=1)


@dataclass(frozen=True)
class Experiment:
    campaign_id: str
    p_value: float


def decided_experiment(run, api, client, aws, wx, traveller, tmp_path, name: str) -> Experiment:
    """A real campaign of PROMO with two variants, through the CLI, the pipeline and the sweeps:
    everyone who got "urgent" in the test clicks, and every other one of them converts."""
    services = bootstrap.services()
    app = services.core.store.catalog.get_app(APP_ID)
    services.core.store.catalog.put_app(app.model_copy(update={"requests_per_second": 10_000}))
    for number in range(40):
        assert api.grant(f"oReportUser{number:04d}", PROMO).status_code == 201
    body = tmp_path / "campaign.json"
    body.write_text(
        json.dumps(
            {
                "name": name,
                "template_id": PROMO,
                "audience": {"holders": {}},
                "data": {"thing1": "Winter sale", "character_string2": "SALE-1"},
                "variants": [{"name": "plain", "weight": 50}, {"name": "urgent", "weight": 50}],
                "experiment": {
                    "test_percent": 50,
                    "metric": "click_rate",
                    "decide_after_minutes": 1,
                    "fallback": "first",
                },
            }
        ),
        encoding="utf-8",
    )
    created = run("campaigns", "create", APP_ID, str(body))
    assert created.exit_code == 0, created.output
    campaign_id = re.search(r"cmp_[0-9a-f]+", created.stdout).group(0)
    run_the_pipeline(client, aws)
    clicks = 0
    for card in list(wx.sent):
        (message,) = api.call("GET", f"/v1/users/{card['touser']}/messages").json_body["items"]
        if message["variant"] == "urgent":
            api.call("POST", f"/v1/messages/{message['id']}/events", {"type": "click"})
            clicks += 1
            if clicks % 2:
                api.call("POST", f"/v1/messages/{message['id']}/events", {"type": "conversion"})
    for _ in range(60):
        run_the_pipeline(client, aws)
        found = bootstrap.services().core.store.campaigns.get(APP_ID, campaign_id).campaign
        if found.completed_at is not None:
            assert found.decision.p_value is not None, found.decision
            return Experiment(campaign_id, found.decision.p_value)
        traveller.shift(30)
    raise AssertionError("the campaign never completed")


# The report ---------------------------------------------------------------------------------


def test_the_report_shows_the_totals_the_days_the_funnel_and_each_templates_rates(
    run, api, services, tmp_path
):
    seed_week(api, services)
    count(services, week()[0], TEMPLATE, sent=1, failed=1)  # a second shard of the same day

    html = report(run, tmp_path)

    text = visible(html)
    days = week()
    assert f"{days[0]} to {days[-1]}" in text and "7 days" in text
    order = services.core.store.counters.days(APP_ID, days[0], days[-1])
    sums = {
        name: sum(item.counts[Counter(name)] for item in order)
        for name in ("requested", "sent", "failed", "clicked", "converted")
    }
    assert f"Requested {sums['requested']:,}" in text
    assert f"Sent {sums['sent']:,}" in text
    assert f"Delivery rate {shown(sums['sent'], sums['sent'] + sums['failed'])}" in text
    assert f"Click rate {shown(sums['clicked'], sums['sent'])}" in text
    assert f"Conversion rate {shown(sums['converted'], sums['clicked'])}" in text
    # the funnel: each stage's count and its share of the stage before
    assert f"Sent {sums['sent']:,} · {shown(sums['sent'], sums['requested'])} of requested" in text
    assert f"Clicked {sums['clicked']:,} · {shown(sums['clicked'], sums['sent'])} of sent" in text
    # the daily charts: a label for every day, and a dot per day and series
    for day in days:
        assert date.fromisoformat(day).strftime("%m-%d") in text
    assert html.count('<svg class="chart"') == 2
    assert len(re.findall(r'<circle class="mark"', html)) == 5 * 7
    # every template with its delivery, click and conversion rates; the busiest first
    event = "活动开始提醒 " + EVENT + " 450 406 7 98.3% 15.5% 0.0%"
    promo = "Winter promotion " + PROMO + " 2,625 2,464 42 98.3% 6.8% 16.2%"
    assert event in text and promo in text
    assert text.index("Order shipped") < text.index("Winter promotion") < text.index("活动")


def test_the_report_escapes_every_text_and_loads_nothing_from_elsewhere(
    run, api, services, tmp_path
):
    api.put_template(PROMO, title=HOSTILE, category="reminder")
    count(services, today().isoformat(), PROMO, requested=3, sent=2, failed=1, clicked=1)
    services.core.store.catalog.put_app(
        services.core.store.catalog.get_app(APP_ID).model_copy(update={"name": "<b>Shop</b> & co"})
    )

    html = report(run, tmp_path)

    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Shop&lt;/b&gt; &amp; co" in html
    assert HOSTILE in visible(html)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"<(link|img|iframe|object|embed|image|use)\b", html, re.IGNORECASE)
    assert "url(" not in html and "@import" not in html and "@font-face" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_the_report_shows_each_campaign_with_its_variants_and_the_experiments_p_value(
    run, api, client, aws, wx, pinned_clock, services, tmp_path
):
    seed_week(api, services)
    experiment = decided_experiment(
        run, api, client, aws, wx, pinned_clock, tmp_path, name="Sale <i>now</i>"
    )

    html = report(run, tmp_path)

    text = visible(html)
    assert "Campaigns with activity in this range" in text
    assert "Sale <i>now</i> completed" in text and experiment.campaign_id in text
    shown = run("campaigns", "show", APP_ID, experiment.campaign_id).stdout
    for variant in ("plain", "urgent"):
        sent = re.search(rf"{variant}\s*│\s*50%\s*│\s*\d+\s*│\s*(\d+)", shown).group(1)
        assert re.search(rf"{variant}( winner)? 50% \d+ {sent} ", text), text
    assert "urgent winner" in text
    assert f"p-value {p_value_text(experiment.p_value)} significant below 0.05" in text
    assert "two-proportion z-test" in text
    assert "The difference is significant: the best click rate won." in text
    assert html.count('<svg class="progress"') == 1

    only = report(run, tmp_path, "--campaign", experiment.campaign_id)

    only_text = visible(only)
    assert f"only campaign {experiment.campaign_id}" in only_text
    assert "Winter promotion" in only_text and "Order shipped" not in only_text
    assert "Requested 40 cards asked for Sent 40 " in only_text  # the 40 holders, no others


def test_only_the_newest_campaigns_with_activity_are_shown_and_the_page_says_so(
    run, api, client, aws, wx, tmp_path, monkeypatch
):
    monkeypatch.setattr("cli.report.MAX_CAMPAIGNS", 2)
    monkeypatch.setattr("cli.report.LISTING_PAGE", 1)  # a page per campaign: the cursor is used
    api.put_template(PROMO, title="Winter promotion", category="reminder")
    api.grant("oReportUser0001", PROMO)
    names = ["First sale", "Second sale", "Third sale", "Draft sale"]
    for name in names:
        body = tmp_path / "campaign.json"
        fields = {
            "name": name,
            "template_id": PROMO,
            "audience": {"openids": ["oReportUser0001"]},
            "data": {"thing1": "Winter sale", "character_string2": "SALE-1"},
            "start": name != "Draft sale",
        }
        body.write_text(json.dumps(fields), encoding="utf-8")
        assert run("campaigns", "create", APP_ID, str(body)).exit_code == 0
        run_the_pipeline(client, aws)

    text = visible(report(run, tmp_path))

    assert "Third sale" in text and "Second sale" in text
    assert "First sale" not in text and "Draft sale" not in text
    assert "Only the 2 newest are shown; --campaign ID reports on another." in text
    monkeypatch.setattr("cli.report.MAX_CAMPAIGNS", 10)
    every = visible(report(run, tmp_path))
    assert "First sale" in every and "Draft sale" not in every and "Only the" not in every


def test_a_range_without_sends_says_so_instead_of_drawing_empty_charts(run, api, tmp_path):
    api.put_template(PROMO, title="Winter promotion", category="reminder")

    html = report(run, tmp_path, "--from", "2026-01-01", "--to", "2026-01-31")

    text = visible(html)
    assert "2026-01-01 to 2026-01-31 31 days" in text
    assert text.count("No sends in this range.") == 2  # the daily chart and the funnel
    assert "No clicks in this range." in text
    assert "No campaign had activity in this range." in text
    assert "Winter promotion " + PROMO + " 0 0 0 – – –" in text
    assert '<svg class="chart"' not in html and '<svg class="funnel"' not in html
    assert "Delivery rate –" in text


def test_the_operators_mistakes_are_one_line_each(run, tenant, tmp_path):
    out = str(tmp_path / "report.html")
    assert_operator_error(run("report", "wx0000000000000999", "--out", out), "does not exist")
    missing = run("report", APP_ID, "--campaign", "cmp_0000000000000000", "--out", out)
    assert_operator_error(missing, "Campaign cmp_0000000000000000 does not exist")
    backwards = run("report", APP_ID, "--from", "2026-03-05", "--to", "2026-03-01", "--out", out)
    assert_operator_error(backwards, "--from 2026-03-05 is after --to 2026-03-01")
    long = run("report", APP_ID, "--from", "2025-01-01", "--to", "2026-03-01", "--out", out)
    assert_operator_error(long, "425 days; a report covers 367 at most")
    unwritable = run("report", APP_ID, "--out", str(tmp_path / "no" / "such" / "report.html"))
    assert_operator_error(unwritable, "Cannot write")
    assert not Path(out).exists()


def test_a_whole_year_is_one_report(run, tenant, services, tmp_path):
    last = today()
    first = last - timedelta(days=366)
    count(services, first.isoformat(), TEMPLATE, requested=5, sent=5)
    count(services, last.isoformat(), TEMPLATE, requested=7, sent=6, failed=1)

    text = visible(report(run, tmp_path, "--from", first.isoformat(), "--to", last.isoformat()))

    assert "367 days" in text and "Requested 12 " in text and "Sent 11 " in text


# Sparklines in `submsg stats` ---------------------------------------------------------------


def test_stats_shows_a_sparkline_per_metric_within_80_columns(run, tenant, services):
    days = week()
    for index, day in enumerate(days):
        count(services, day, TEMPLATE, requested=10 * (index + 1), sent=10 * (index + 1))
    count(services, days[3], TEMPLATE, failed=4)

    result = run("stats", APP_ID, columns=80)

    assert result.exit_code == 0, result.output
    lines = lines_at(result.stdout, 80)
    assert any(f"Trend, {days[0]} to {days[-1]}, one mark a day" in line for line in lines)
    trend = {cells[0]: cells[1:] for cells in _trend_rows(lines)}
    assert trend["requested"] == ["▂▃▄▅▆▇█", "280"]
    assert trend["failed"] == ["▁▁▁█▁▁▁", "4"]
    assert trend["clicked"] == ["▁▁▁▁▁▁▁", "0"]
    assert set(trend) >= {"sent", "skipped", "unknown", "converted", "grants_received"}


def test_stats_over_a_year_averages_the_days_into_at_most_forty_marks(run, tenant, services):
    last = today()
    count(services, last.isoformat(), TEMPLATE, sent=9)

    result = run("stats", APP_ID, "--from", (last - timedelta(days=366)).isoformat(), columns=80)

    assert result.exit_code == 0, result.output
    lines = lines_at(result.stdout, 80)
    assert any("one mark per 10 days (their average)" in line for line in lines)
    trend = {cells[0]: cells[1:] for cells in _trend_rows(lines)}
    assert trend["sent"] == ["▁" * 36 + "█", "9"]


def _trend_rows(lines: list[str]) -> list[list[str]]:
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]
    return [row for row in rows if len(row) == 3 and set(row[1]) <= set("▁▂▃▄▅▆▇█") and row[1]]


def test_p_values_read_as_decimals_to_compare_with_the_threshold():
    assert p_value_text(0.0312) == "0.0312"
    assert p_value_text(0.00037) == "0.00037"
    assert p_value_text(0.0000372) == "0.000037"
    assert p_value_text(1e-9) == "< 0.000001"
    assert p_value_text(1.0) == "1.0000"
    assert p_value_text(None) == "–"
