"""What the sender makes sure of before it claims a card (docs/resilience.md#the-sender): the
app's secret and access token at hand, and the invocation's time to send and record the card."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from chalicelib import deadline
from chalicelib.adapters.observability import logger
from chalicelib.domain.outcomes import Outcome, SendReport
from chalicelib.domain.records import App
from chalicelib.ports import APP_SECRET, DeadlinePassed, MissingSecret, WeChatRefused
from chalicelib.services.deps import Core, Sending

LEFT_FOR_S = 1  # a card left for later is visible again this soon (to another invocation)


class LeftForLater(Exception):
    """The card was not claimed (too little time left, a busy table): its SQS message comes
    back a moment later (a partial batch failure); nothing was written."""


def ready(sending: Sending, app: App) -> str | SendReport:
    """The app secret, its access token fetched (and cached) on the way; the report to record
    instead when either is missing (nothing reaches WeChat's send then)."""
    try:
        secret = sending.secrets.get(app.app_id, APP_SECRET)
    except MissingSecret:
        return SendReport(Outcome.RETRY, None, "the app secret is not configured")
    try:
        sending.wechat().access_token(app.app_id, secret)
    except WeChatRefused as refused:
        return SendReport(Outcome.RETRY, refused.errcode, refused.errmsg)
    return secret


@contextmanager
def time_to_claim(
    core: Core, postpone: Callable[[], None], landed: Callable[[], bool]
) -> Iterator[None]:
    """The claim inside lands while the invocation can still send and record the card (WeChat's
    connect and read timeouts, and the record's reserve), or not at all: LeftForLater, after
    ``postpone`` made the SQS message visible again soon. When the budget ran out without an
    answer, ``landed()`` says whether the claim landed anyway (an attempt applied whose answer
    was lost): then the block ends normally, and the card is sent with the time kept for it."""
    settings = core.settings
    needed = (
        settings.wechat_connect_timeout_s
        + settings.wechat_read_timeout_s
        + settings.record_reserve_s
    )
    if deadline.remaining_s() < needed:
        _leave(postpone, "not enough time left to send and record")
    try:
        with deadline.within(deadline.remaining_s() - needed):
            yield
    except DeadlinePassed:
        if not landed():
            _leave(postpone, "the table stayed busy; not claimed")


def _leave(postpone: Callable[[], None], why: str) -> None:
    try:
        postpone()
    except Exception:  # the visibility timeout brings it back anyway
        logger.warning("could not postpone a card left for later")
    raise LeftForLater(why)
