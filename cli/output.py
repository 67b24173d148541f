"""Where the CLI writes: results on standard output, everything else on standard error."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


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
