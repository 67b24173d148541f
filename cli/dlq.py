"""`submsg dlq list|replay`: the send queue's dead letters of the stage."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import dead_letters, target
from cli.errors import OperatorError
from cli.output import moment, notes, progress, records, results

commands = typer.Typer(help="Dead-letter queue of the send queue.", no_args_is_help=True)

DEFAULT_MAX = 100
LETTER_HEADERS = ("SQS message id", "App", "Message id", "First received", "Receives")
MaxOption = Annotated[int, typer.Option("--max", min=1, help="At most this many messages.")]


def _queues(ctx: typer.Context) -> tuple[object, str, str]:
    connection = target.connection(ctx)
    queue = connection.services.core.queue
    dead_letter_url = queue.sqs.get_queue_url(QueueName=connection.dead_letter_queue_name)
    return queue.sqs, dead_letter_url["QueueUrl"], queue.url


@commands.command("list")
def list_letters(ctx: typer.Context, max_count: MaxOption = DEFAULT_MAX) -> None:
    """Show dead letters without removing them."""
    sqs, dead_letter_url, _ = _queues(ctx)
    letters = dead_letters.peek(sqs, dead_letter_url, max_count)
    rows = [
        [
            letter.sqs_id,
            letter.app_id,
            letter.message_id,
            moment(letter.first_received),
            str(letter.receive_count),
        ]
        for letter in letters
    ]
    console = results()
    console.print(records(console, LETTER_HEADERS, rows))
    notes().print(f"{len(letters)} dead letter(s) shown.")


@commands.command()
def replay(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", help="SQS or submsg message id to replay; repeatable."),
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay any dead letters.")] = False,
    max_count: MaxOption = DEFAULT_MAX,
) -> None:
    """Move chosen dead letters back to the send queue."""
    if bool(ids) == replay_all:
        raise OperatorError("Choose the messages: --id ID (repeatable) or --all.")
    selection = dead_letters.Selection(frozenset(ids or ()), max_count)
    sqs, dead_letter_url, send_url = _queues(ctx)
    taken, others = dead_letters.collect(sqs, dead_letter_url, selection)
    moved = 0
    try:
        with progress() as bar:
            task = bar.add_task("Replaying", total=len(taken))
            for letter in taken:
                dead_letters.move(sqs, letter, dead_letter_url, send_url)
                moved += 1
                bar.advance(task)
    finally:
        dead_letters.release(sqs, dead_letter_url, others + taken[moved:])
    notes().print(f"{len(taken)} message(s) moved back to the send queue.")
    missing = selection.missing(taken)
    if missing:
        raise OperatorError(f"Not found in the dead-letter queue: {', '.join(sorted(missing))}")
