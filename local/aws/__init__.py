"""The embedded AWS: moto 5.2.5 made to behave like AWS, at scale and under load
(docs/local-stack.md#the-embedded-aws).

One module per concern, each replacement naming the moto function it replaces and why:

- ``conflicts``: the gate of every DynamoDB request (moto's ``DynamoHandler.call_action``):
  transactions hold their items while they apply; conflicts; faults injected.
- ``idempotency``: ``ClientRequestToken`` kept for 10 minutes, as DynamoDB does.
- ``transactions``: ``TransactWriteItems`` applied with an undo log, not a copy of the table.
- ``queries``: a Query reads its partition, or its index's window, not the whole table.
- ``updates``: plain update expressions applied directly; conditions and expressions parsed once.
- ``wire``: requests parsed, answered and dispatched without moto's repeated work.
- ``sqs``: SQS's clock, attributes and batch deletes made cheap; SQS faults.
- ``mock``: moto's mock started without rebuilding the callbacks it registers.
- ``faults``: ``SUBMSG_AWS_FAULTS`` parsed and drawn.
- ``server``: the endpoint over HTTP in a process of its own (``python -m local.aws``).

``install`` refuses any moto version other than the one this was written for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import moto

from local.aws import conflicts, mock, queries, sqs, transactions, updates, wire
from local.aws.originals import Patch, original

SUPPORTED_MOTO = "5.2.5"
PATCHES: tuple[Patch, ...] = (
    *conflicts.PATCHES,
    *transactions.PATCHES,
    *queries.PATCHES,
    *updates.PATCHES,
    *wire.PATCHES,
    *sqs.PATCHES,
    *mock.PATCHES,
)
_MISSING = object()
_replaced: dict[tuple[int, str], Any] = {}  # what each patch replaced (_MISSING: inherited)


class UnsupportedMoto(RuntimeError):
    """The installed moto is not the version whose internals this package relies on."""


def install() -> None:
    """Patch moto in this process (idempotent); UnsupportedMoto for another moto version."""
    if moto.__version__ != SUPPORTED_MOTO:
        raise UnsupportedMoto(
            f"local/aws was written for moto {SUPPORTED_MOTO}, found {moto.__version__}: check "
            "what its modules patch (their PATCHES) against that moto, then update "
            "SUPPORTED_MOTO and the pin in requirements-dev.in"
        )
    if _replaced:
        return
    for owner, name, make in PATCHES:
        moto_function = getattr(owner, name)
        own = vars(owner).get(name, _MISSING) if isinstance(owner, type) else moto_function
        _replaced[(id(owner), name)] = own
        original.setdefault(name, moto_function)
        setattr(owner, name, make(moto_function))


def uninstall() -> None:
    """Give moto back its own behaviour (the tests compare the two)."""
    for owner, name, _ in PATCHES:
        if (id(owner), name) in _replaced:
            kept = _replaced.pop((id(owner), name))
            if kept is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, kept)
    original.clear()
    updates.forget()
    wire.forget()
    mock.forget()


def installed() -> bool:
    return bool(_replaced)


@contextlib.contextmanager
def plain_moto() -> Iterator[None]:
    """Unpatched moto for the duration (restores the patches afterwards if they were on)."""
    was_installed = installed()
    uninstall()
    try:
        yield
    finally:
        if was_installed:
            install()
