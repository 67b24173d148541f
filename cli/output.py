"""Where the CLI writes: results on standard output, everything else on standard error.

Tables fit the terminal (80 columns and up) without breaking or cutting a value: a listing whose
rows are too wide for one line each is shown as one block of ``field  value`` lines per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table

UNBOUNDED = 1_000_000  # columns: room enough to measure a renderable's natural width


def results() -> Console:
    return Console(highlight=False)


def notes() -> Console:
    return Console(stderr=True, highlight=False)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=notes(),
    )


def moment(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def fits(console: Console, renderable: RenderableType) -> bool:
    """True when ``renderable`` shows at its natural width, with nothing wrapped or cut."""
    natural = console.measure(renderable, options=console.options.update_width(UNBOUNDED))
    return natural.maximum <= console.width


def records(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """One row per record when that fits ``console``; otherwise a block per record."""
    wide = Table(*(Column(header, no_wrap=True) for header in headers))
    for row in rows:
        wide.add_row(*row)
    if not rows or fits(console, wide):
        return wide
    tall = Table(
        Column("Field", no_wrap=True, style="bold"),
        Column("Value", overflow="fold"),
        show_header=False,
    )
    for number, row in enumerate(rows):
        if number:
            tall.add_section()
        for header, value in zip(headers, row, strict=True):
            tall.add_row(header, value)
    return tall
