"""The report's charts as inline SVG, drawn by hand: no script, every text escaped.

Plotted shapes carry the class ``mark`` (only shapes that stand for a value above zero), so a
browser can tell whether anything was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

# One colour per counter, the same in every chart, told apart by hue and lightness.
COLOURS = {
    "requested": "#64748b",
    "sent": "#2563eb",
    "failed": "#dc2626",
    "clicked": "#d97706",
    "converted": "#16a34a",
    "skipped": "#a3acb9",
    "canceled": "#475569",
    "in_flight": "#93c5fd",
    "pending": "#e2e8f0",
}
AREA_FILLS = {"requested": "#e2e8f0", "clicked": "#fdecc8"}  # under a base series' line
GRID = "#e5e7eb"
INK = "#6b7280"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DOTS_UP_TO = 31  # days; beyond, a dot per day only clutters the line
Place = Callable[[int], float]  # a day's index -> x
Level = Callable[[int], float]  # a count -> y


def number(value: int) -> str:
    return f"{value:,}"


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def compact(value: int) -> str:
    """An axis label: 950, 9,500, 95k, 9.5M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 100_000:
        return f"{value / 1000:.3g}k"
    return number(value)


@dataclass(frozen=True)
class Series:
    counter: str  # a key of COLOURS
    label: str
    values: Sequence[int]


@dataclass(frozen=True)
class Frame:
    """Where the plot sits inside the SVG's view box."""

    width: int = 560
    height: int = 250
    left: int = 52
    right: int = 14
    top: int = 14
    bottom: int = 40

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> int:
        return self.height - self.bottom


def axis_top(largest: int) -> tuple[int, int]:
    """The top of a count axis and its step: a step of 1, 2 or 5 times a power of ten, about
    four steps up to at least ``largest``."""
    rough = max(largest, 1) / 4
    power = 10 ** math.floor(math.log10(rough))
    step = int(max(1, next(m * power for m in (1, 2, 5, 10) if m * power >= rough)))
    return step * max(1, math.ceil(largest / step)), step


def svg(frame: Frame, label: str, body: str, css_class: str = "chart") -> str:
    return (
        f'<svg class="{css_class}" viewBox="0 0 {frame.width} {frame.height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def daily_chart(label: str, days: Sequence[str], series: Sequence[Series]) -> str:
    """Counts per day: the first series as a shaded area under its line, the others as lines;
    a dot per day (with its value on hover) for short ranges."""
    frame = Frame()
    top, step = axis_top(max((max(s.values, default=0) for s in series), default=0))
    band = frame.plot_width / max(1, len(days))

    def x(index: int) -> float:
        return frame.left + band * (index + 0.5)

    def y(value: int) -> float:
        return frame.baseline - frame.plot_height * value / top

    parts = [_count_axis(frame, top, step), _day_axis(frame, days, x)]
    base, *others = series
    parts.append(_area(base, x, y, frame.baseline))
    for line in (base, *others):
        parts.append(_line(line, days, x, y))
    return svg(frame, label, "".join(parts))


def _count_axis(frame: Frame, top: int, step: int) -> str:
    lines = []
    for value in range(0, top + 1, step):
        level = frame.baseline - frame.plot_height * value / top
        lines.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{level:.1f}" '
            f'y2="{level:.1f}" stroke="{GRID if value else INK}" stroke-width="1"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{level + 4:.1f}" '
            f'text-anchor="end">{compact(value)}</text>'
        )
    return "".join(lines)


def _day_axis(frame: Frame, days: Sequence[str], x: Place) -> str:
    every = max(1, math.ceil(len(days) / (frame.plot_width // 52)))
    with_weekday = every == 1 and len(days) <= 14
    labels = []
    for index in range(0, len(days), every):
        day = date.fromisoformat(days[index])
        weekday = (
            f'<tspan x="{x(index):.1f}" dy="13">{WEEKDAYS[day.weekday()]}</tspan>'
            if with_weekday
            else ""
        )
        labels.append(
            f'<text class="tick" x="{x(index):.1f}" y="{frame.baseline + 16}" '
            f'text-anchor="middle">{day:%m-%d}{weekday}</text>'
        )
    return "".join(labels)


def _area(series: Series, x: Place, y: Level, baseline: int) -> str:
    if series.counter not in AREA_FILLS or not any(series.values) or len(series.values) < 2:
        return ""
    edge = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.values))
    last = len(series.values) - 1
    outline = f"{x(0):.1f},{baseline} {edge} {x(last):.1f},{baseline}"
    return f'<polygon class="mark" points="{outline}" fill="{AREA_FILLS[series.counter]}"/>'


def _line(series: Series, days: Sequence[str], x: Place, y: Level) -> str:
    colour = COLOURS[series.counter]
    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.values))
    shape = ""
    if len(series.values) > 1:
        shape = (
            f'<polyline class="{"mark" if any(series.values) else "flat"}" points="{points}" '
            f'fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"/>'
        )
    if len(series.values) <= DOTS_UP_TO:
        shape += "".join(
            f'<circle class="{"mark" if v else "flat"}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" '
            f'fill="{colour}"><title>{escape(days[i])}: {number(v)} '
            f"{escape(series.label.lower())}</title></circle>"
            for i, v in enumerate(series.values)
        )
    return shape
