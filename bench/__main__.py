"""`make bench`: the figures of SPEC §8, a readable table, then one JSON line."""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console
from rich.table import Table


def main() -> None:
    console = Console(stderr=False)
    figures: dict[str, float | None] = dict.fromkeys(
        [
            "aws_calls_per_message",
            "throughput_ratio",
            "cold_start_ratio",
            "sweep_reads_per_due_1k",
            "sweep_reads_per_due_100k",
            "lateness_p50_s",
            "lateness_p99_s",
        ]
    )
    table = Table(title="submsg bench (SPEC §8)")
    for column in ("figure", "measured", "target", "detail"):
        table.add_column(column)

    from bench import coldstart, lateness, pipeline, sweep

    with console.status("pipeline: calls per message and throughput"):
        flow = pipeline.measure(int(os.environ.get("BENCH_MESSAGES", "200")))
    figures["aws_calls_per_message"] = round(flow.calls_per_message, 2)
    figures["throughput_ratio"] = round(flow.throughput_ratio, 3)
    table.add_row(
        "AWS calls per sent message",
        f"{flow.calls_per_message:.2f}",
        "≤ 5",
        ", ".join(f"{op} {n:g}" for op, n in flow.calls_by_operation.items()),
    )
    table.add_row(
        "pipeline throughput ratio",
        f"{flow.throughput_ratio:.2f}",
        "≥ 0.5",
        f"{flow.pipeline_rate:.1f} msg/s vs {flow.bare_rate:.1f} msg/s bare calls",
    )

    with console.status("cold start"):
        ours, bare = coldstart.measure()
    figures["cold_start_ratio"] = round(ours / bare, 3)
    table.add_row(
        "cold start ratio",
        f"{ours / bare:.2f}",
        "≤ 1.5",
        f"import app {ours * 1000:.0f} ms vs bare {bare * 1000:.0f} ms",
    )

    for backlog, key in ((1_000, "sweep_reads_per_due_1k"), (100_000, "sweep_reads_per_due_100k")):
        with console.status(f"due sweep with {backlog} future reminders"):
            ratio = sweep.reads_per_due(backlog)
        figures[key] = round(ratio, 3)
        table.add_row(
            f"sweep reads per due ({backlog:,} waiting)",
            f"{ratio:.2f}",
            "≤ 1.1",
            f"{sweep.DUE} due",
        )

    with console.status("reminder lateness through the local stack"):
        late = lateness.measure()
    if late is not None:
        figures["lateness_p50_s"], figures["lateness_p99_s"] = late.p50, late.p99
        table.add_row(
            "reminder lateness p50 / p99",
            f"{late.p50:.3f} / {late.p99:.3f} s",
            "p99 ≤ 1.5 s",
            f"{late.count} reminders",
        )
    console.print(table)
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
