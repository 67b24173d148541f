"""The report's bars as inline SVG: the funnel, a rate in a table cell, a campaign's progress."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from chalicelib.domain.statistics import ratio
from cli.report_charts import COLOURS, GRID, Frame, number, percent, svg

FUNNEL = Frame(width=1160, height=4 * 46 + 8, left=150, right=270, top=8, bottom=0)
FUNNEL_ROW = 46
FUNNEL_BAR = 28
RATE_WIDTH, RATE_HEIGHT = 90, 10
PROGRESS = Frame(width=1120, height=22, left=0, right=0, top=0, bottom=0)


@dataclass(frozen=True)
class Tally:
    counter: str  # a key of COLOURS
    label: str
    count: int


def funnel_chart(stages: Sequence[Tally]) -> str:
    """One bar per stage, its length to scale, with its count and its share of the stage
    before it."""
    scale = max((stage.count for stage in stages), default=0) or 1
    rows = []
    for index, stage in enumerate(stages):
        top = FUNNEL.top + index * FUNNEL_ROW
        width = FUNNEL.plot_width * stage.count / scale
        if stage.count:
            width = max(width, 2)  # a few conversions among many sends still show
        middle = top + FUNNEL_BAR / 2 + 5
        share = ""
        if index:
            before = stages[index - 1]
            part = percent(ratio(stage.count, before.count))
            share = f'<tspan class="share"> · {part} of {escape(before.label.lower())}</tspan>'
        rows.append(
            f'<text class="stage" x="{FUNNEL.left - 12}" y="{middle:.1f}" text-anchor="end">'
            f"{escape(stage.label)}</text>"
            f'<rect x="{FUNNEL.left}" y="{top}" width="{FUNNEL.plot_width}" '
            f'height="{FUNNEL_BAR}" rx="4" fill="#f3f4f6"/>'
            + (
                f'<rect class="mark" x="{FUNNEL.left}" y="{top}" width="{width:.1f}" '
                f'height="{FUNNEL_BAR}" rx="4" fill="{COLOURS[stage.counter]}"/>'
                if stage.count
                else ""
            )
            + f'<text class="value" x="{FUNNEL.left + FUNNEL.plot_width + 12}" '
            f'y="{middle:.1f}">{number(stage.count)}{share}</text>'
        )
    return svg(FUNNEL, "Funnel: " + " → ".join(s.label for s in stages), "".join(rows), "funnel")


def rate_bar(rate: float | None, counter: str) -> str:
    """A rate (0 to 1) as a small bar in a table cell; nothing for no rate."""
    if rate is None:
        return ""
    width = RATE_WIDTH * min(max(rate, 0.0), 1.0)
    filled = (
        f'<rect class="mark" width="{max(width, 1.5):.1f}" height="{RATE_HEIGHT}" rx="2" '
        f'fill="{COLOURS[counter]}"/>'
        if rate > 0
        else ""
    )
    return (
        f'<svg class="rate" viewBox="0 0 {RATE_WIDTH} {RATE_HEIGHT}" width="{RATE_WIDTH}" '
        f'height="{RATE_HEIGHT}" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{RATE_WIDTH}" height="{RATE_HEIGHT}" rx="2" fill="{GRID}"/>{filled}</svg>'
    )


def rate_cell(rate: float | None, counter: str) -> str:
    """A table cell with a rate in figures and as a bar."""
    return f'<td class="rate"><span>{percent(rate)}</span>{rate_bar(rate, counter)}</td>'


def progress_bar(label: str, parts: Sequence[Tally]) -> str:
    """Shares of a whole side by side in one bar (a campaign's audience by outcome)."""
    whole = sum(part.count for part in parts)
    if whole == 0:
        return ""
    drawn, start = [], 0.0
    for part in parts:
        if not part.count:
            continue
        width = PROGRESS.width * part.count / whole
        drawn.append(
            f'<rect class="mark" x="{start:.2f}" width="{width:.2f}" height="{PROGRESS.height}" '
            f'fill="{COLOURS[part.counter]}"><title>{escape(part.label)}: '
            f"{number(part.count)}</title></rect>"
        )
        start += width
    return svg(PROGRESS, label, "".join(drawn), "progress")
