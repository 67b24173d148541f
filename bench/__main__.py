"""`make bench`: the performance figures, a readable table, then one JSON line (the last line).

`python -m bench sweep campaign` runs only the parts whose names hold one of those words
(`BENCH=sweep make bench` does the same); the figures of the others stay null.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

from rich.console import Console
from rich.table import Table

KEYS = (
    "aws_calls_per_message",
    "webhook_calls_per_event",
    "webhook_other_app_late_p99_s",
    "throughput_ratio",
    "cold_start_ratio",
    "sweep_reads_per_due_1k",
    "sweep_reads_per_due_100k",
    "lateness_p50_s",
    "lateness_p99_s",
    "local_latency_ratio_50k",
    "local_latency_p50_ms",
    "local_cards_per_s",
    "campaign_calls_per_recipient",
    "campaign_10k_s",
    "campaign_throttle_ratio",
    "cold_start_ratio_bare",
    "best_time_click_lift",
    "sweep_enqueue_per_s",
    "aws_cost_per_million_cards_usd",
)


class Report:
    def __init__(self) -> None:
        self.figures: dict[str, float | None] = dict.fromkeys(KEYS)
        self.table = Table(title="submsg bench")
        for column in ("figure", "measured", "target", "detail"):
            self.table.add_column(column)

    def row(self, figure: str, measured: str, target: str, detail: str = "") -> None:
        self.table.add_row(figure, measured, target, detail)


def pipeline_figures(report: Report, console: Console) -> None:
    from bench import pipeline

    with console.status("pipeline: calls per message and throughput"):
        flow = pipeline.measure(int(os.environ.get("BENCH_MESSAGES", "200")))
    report.figures["aws_calls_per_message"] = round(flow.calls_per_message, 2)
    report.figures["throughput_ratio"] = round(flow.throughput_ratio, 3)
    by_operation = ", ".join(f"{op} {n:g}" for op, n in flow.calls_by_operation.items())
    report.row("AWS calls per sent message", f"{flow.calls_per_message:.2f}", "≤ 5", by_operation)
    report.row(
        "pipeline throughput ratio",
        f"{flow.throughput_ratio:.2f}",
        "≥ 0.5",
        f"{flow.pipeline_rate:.1f} msg/s vs {flow.bare_rate:.1f} msg/s bare calls",
    )


def webhook_figures(report: Report, console: Console) -> None:
    from bench import webhooks

    with console.status("webhooks: AWS calls per delivered event"):
        found = webhooks.measure(int(os.environ.get("BENCH_WEBHOOK_EVENTS", "100")))
    report.figures["webhook_calls_per_event"] = round(found.calls_per_event, 2)
    by_operation = ", ".join(f"{op} {n:g}" for op, n in found.calls_by_operation.items())
    report.row(
        "AWS calls per delivered webhook event", f"{found.calls_per_event:.2f}", "≤ 2", by_operation
    )
    report.row(
        "  the card's own calls, an endpoint listening",
        f"{found.card_calls_with_endpoint:.2f}",
        "≤ 5",
        f"{found.events} message.sent events",
    )


def webhook_isolation_figures(report: Report, console: Console) -> None:
    from bench import webhook_isolation as isolation

    with console.status("webhooks: another app's deliveries while one app's endpoint is dead"):
        found = isolation.measure(circuit=True)
        bare = isolation.measure(circuit=False)
    report.figures["webhook_other_app_late_p99_s"] = round(found.other_late_p99_s, 2)
    window = f"{isolation.BACKLOG} events to a dead endpoint, {isolation.SLOTS} deliverers"
    report.row(
        "another app's webhook lateness p50 / p99 / max, one app's endpoint dead",
        f"{found.other_late_p50_s:.1f} / {found.other_late_p99_s:.1f} / "
        f"{found.other_late_max_s:.1f} s",
        "≤ 15 s",
        f"{window}: {found.dead_attempts} attempts at it, {found.most_in_flight} at once at most",
    )
    report.row(
        "  the same without the endpoint circuit",
        f"{bare.other_delivered} of {bare.other_events} delivered",
        "",
        f"{bare.dead_attempts} attempts at the dead endpoint, p50 "
        f"{_seconds(bare.other_late_p50_s)}",
    )


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if math.isfinite(value) else "never"


def contention_figures(report: Report, console: Console) -> None:
    from bench import contention

    with console.status("hot items: 16 concurrent sends of one app, three rate-limit layouts"):
        layouts = contention.measure()
    for found in layouts:
        report.row(
            f"  rate limit {found.layout}",
            f"{found.conflicts_per_100_cards:.0f} conflicts / 100 cards",
            "",
            f"{found.dynamodb_calls_per_card:g} DynamoDB calls and {found.writes_per_card:g} "
            f"writes a card; {found.on_rate_items} met on a rate item; "
            f"busiest key {found.hottest_key_writes} writes",
        )


def cost_figures(report: Report, console: Console) -> None:
    from bench import card_cost

    cards = int(os.environ.get("BENCH_COST_CARDS", "100"))
    with console.status("what a card costs in AWS: usage metered and priced"):
        found = card_cost.measure(cards)
        full = card_cost.measure(cards, card_cost.FULL_CARD)
    report.figures["aws_cost_per_million_cards_usd"] = round(found.per_million_cards, 2)
    for component, usd in found.breakdown().items():
        report.row(f"  {component}", f"${usd:.2f}", "", card_cost.usage_detail(found, component))
    report.row(
        "AWS cost per million cards (us-east-1, on demand)",
        f"${found.per_million_cards:.2f}",
        "≤ 25 (aim ≤ 10)",
        f"{card_cost.BENCH_CARD.label}; {cards} cards",
    )
    report.row(
        "  the same, a card of five Chinese keywords",
        f"${full.per_million_cards:.2f}",
        "reported",
        f"{full.card_consumed.write_units / cards:.1f} write units a card",
    )
    report.row(
        "  and the grant behind each card (POST /v1/grants)",
        f"+${found.grant_per_million:.2f}",
        "reported",
        f"{found.grant.write_units / cards:.1f} write units a grant",
    )


def cold_start_figures(report: Report, console: Console) -> None:
    from bench import coldstart

    with console.status("cold start"):
        cold = coldstart.measure()
    report.figures["cold_start_ratio"] = round(cold.ratio, 3)
    report.figures["cold_start_ratio_bare"] = round(cold.ratio_bare, 3)
    report.row(
        "cold start ratio",
        f"{cold.ratio:.2f}",
        "≤ 1.3",
        f"import app {cold.ours_s * 1000:.0f} ms vs {cold.required_s * 1000:.0f} ms for "
        "Chalice + boto3 + pydantic and one model",
    )
    report.row(
        "cold start ratio, bare",
        f"{cold.ratio_bare:.2f}",
        "reported",
        f"vs {cold.bare_s * 1000:.0f} ms for Chalice + boto3",
    )


def sweep_figures(report: Report, console: Console) -> None:
    from bench import sweep

    for backlog, key in ((1_000, "sweep_reads_per_due_1k"), (100_000, "sweep_reads_per_due_100k")):
        with console.status(f"due sweep with {backlog} future reminders"):
            ratio = sweep.reads_per_due(backlog)
        report.figures[key] = round(ratio, 3)
        waiting = f"sweep reads per due ({backlog:,} waiting)"
        report.row(waiting, f"{ratio:.2f}", "≤ 1.1", f"{sweep.DUE} due")


def sweep_burst_figures(report: Report, console: Console) -> None:
    from bench import sweep

    with console.status(f"due sweep: {sweep.BURST:,} reminders due in the same second"):
        burst = sweep.burst()
    report.figures["sweep_enqueue_per_s"] = round(burst.per_s, 1)
    calls = ", ".join(f"{op} {n}" for op, n in sorted(burst.calls.items()))
    report.row(
        f"due sweep: {burst.due:,} due in the same second, enqueued a second",
        f"{burst.per_s:.0f}",
        "≥ 300",
        f"{burst.seconds:.2f} s in one process, fanned out to {burst.groups} workers; {calls}",
    )
    report.row(
        "  the sweep's own CPU per 1 000 enqueued",
        f"{burst.client_cpu_ms_per_1k:.0f} ms",
        "reported",
        f"{burst.cpu_s:.2f} s CPU in all, {burst.aws_cpu_s:.2f} s of it the embedded AWS's; "
        f"{burst.due / burst.cpu_s:.0f} a second of CPU",
    )


def moto_figures(report: Report, console: Console) -> None:
    from bench import moto_cost

    with console.status("a 4-item transaction, plain moto and the embedded DynamoDB"):
        costs = moto_cost.measure()
    for cost in costs:
        report.row(
            f"4-item transaction, {cost.stored:,} items stored",
            f"{cost.embedded_ms:.2f} ms",
            "flat",
            f"plain moto {cost.plain_ms:.1f} ms",
        )


def campaign_figures(report: Report, console: Console) -> None:
    from bench import campaign

    costs = []
    for holders in campaign.COST_SIZES:
        with console.status(f"a campaign to {holders:,} holders, in process"):
            costs.append(campaign.calls_per_recipient(holders))
    for cost in costs:
        report.row(
            f"campaign AWS requests per recipient, {cost.holders:,} holders",
            f"{cost.calls_per_recipient:.2f}",
            "≤ 6",
            f"fan-out and sends; {cost.seconds:.0f} s in process",
        )
    report.figures["campaign_calls_per_recipient"] = round(costs[-1].calls_per_recipient, 3)
    with console.status("a throttled campaign, over more than a minute"):
        paced = campaign.throttle()
    report.figures["campaign_throttle_ratio"] = round(paced.ratio, 3)
    report.row(
        "throttled campaign: busiest 60 s window / rate",
        f"{paced.ratio:.3f}",
        "≤ 1.1 (+10 cards)",
        f"{paced.busiest_minute} cards at {paced.rate_per_minute}/min, {paced.holders} holders",
    )


def engagement_figures(report: Report, console: Console) -> None:
    from bench import engagement

    with console.status("best send time, simulated population"):
        found = engagement.measure()
    report.figures["best_time_click_lift"] = round(found.lift, 3)
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(found.reasons.items()))
    report.row(
        "click rate, best time vs sent at 10:00 (simulated)",
        f"{found.best_rate:.1%} vs {found.now_rate:.1%}",
        "reported",
        f"lift {found.lift:+.0%} over {found.users:,} users; {reasons}; "
        f"cards {found.delayed_hours_mean:.1f} h later on average",
    )


def local_campaign_figures(report: Report, console: Console) -> None:
    from bench import local_stack

    holders = int(os.environ.get("BENCH_CAMPAIGN_HOLDERS", local_stack.CAMPAIGN_HOLDERS))
    with console.status(f"a campaign to {holders:,} holders through the local stack"):
        run = local_stack.campaign_run(holders)
    if holders == 10_000:
        report.figures["campaign_10k_s"] = round(run.seconds, 1)
    report.row(
        f"campaign to {holders:,} holders, local stack, create to completed",
        f"{run.seconds:.0f} s",
        "10 000 in ≤ 300 s",
        f"{run.sent:,} sent, {run.cards_per_s:.1f} cards/s",
    )


def local_stack_figures(report: Report, console: Console) -> None:
    from bench import local_stack

    with console.status("the local stack under load (make run, driven over HTTP)"):
        local = local_stack.measure()
    report.figures["local_latency_ratio_50k"] = round(local.latency_ratio, 3)
    report.figures["local_latency_p50_ms"] = local.latency_empty_ms
    report.figures["local_cards_per_s"] = local.cards_per_s
    report.figures["lateness_p50_s"] = local.lateness_p50_s
    report.figures["lateness_p99_s"] = local.lateness_p99_s
    report.row(
        "POST /v1/messages median, 50 000 items vs empty",
        f"{local.latency_ratio:.2f}",
        "≤ 1.2",
        f"{local.latency_50k_ms:.1f} ms vs {local.latency_empty_ms:.1f} ms",
    )
    report.row("POST /v1/messages median, empty", f"{local.latency_empty_ms:.1f} ms", "≤ 50 ms")
    report.row(
        "cards a second, end to end", f"{local.cards_per_s:.1f}", "≥ 50", f"{local.cards} cards"
    )
    report.row(
        f"{local.burst} reminders due in one second: the last",
        f"{local.burst_last_s:.2f} s late",
        "≤ 5 s",
    )
    report.row(
        "reminder lateness p50 / p99",
        f"{local.lateness_p50_s:.3f} / {local.lateness_p99_s:.3f} s",
        "p99 ≤ 1.5 s",
        f"{local_stack.REMINDERS} reminders over {local_stack.SPREAD_S} s",
    )


PHASES = (
    "pipeline_figures",
    "webhook_figures",
    "webhook_isolation_figures",
    "contention_figures",
    "cost_figures",
    "cold_start_figures",
    "sweep_figures",
    "sweep_burst_figures",
    "moto_figures",
    "campaign_figures",
    "engagement_figures",
    "local_stack_figures",
    "local_campaign_figures",
)


def chosen(parts: list[str]) -> list[str]:
    """The phases to run: all, or those whose names hold one of ``parts``."""
    return [name for name in PHASES if not parts or any(part in name for part in parts)]


def main() -> None:
    console = Console(stderr=False)
    report = Report()
    started = time.monotonic()
    parts = sys.argv[1:] or os.environ.get("BENCH", "").split()
    for phase in (globals()[name] for name in chosen(parts)):
        phase_started = time.monotonic()
        phase(report, console)
        console.print(f"{phase.__name__}: {time.monotonic() - phase_started:.0f} s")
    console.print(report.table)
    console.print(f"bench took {time.monotonic() - started:.0f} s")
    sys.stdout.write(json.dumps(report.figures) + "\n")


if __name__ == "__main__":
    main()
