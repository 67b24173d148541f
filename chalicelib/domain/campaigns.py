"""Campaign rules: who gets which variant and data, the throttle's clock, and the progress
counters (docs/campaigns.md); the moves of a campaign are in ``campaign_phases``. Pure: no
storage, no clock of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from chalicelib.domain import experiments
from chalicelib.domain.campaign_records import Campaign, CampaignPhase, CampaignStatus, Variant
from chalicelib.domain.statistics import Counter

C = CampaignStatus
NO_VARIANT = "_"  # the counters' variant of a campaign without variants
SKIP_REASONS = ("no_grant", "opted_out", "frequency_cap", "fatigue")


class CampaignCounter(StrEnum):
    """A campaign's progress counters: the only names its counter items are written or read
    under. ``created``: recipients handled (a message written, or skipped for no grant or an
    opt-out); ``unknown`` is a part of ``failed`` (the outcome never came), shown on its own."""

    CREATED = "created"
    REQUESTED = "requested"  # messages written (created, less the recipients skipped at once)
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED_NO_GRANT = "skipped_no_grant"
    SKIPPED_OPTED_OUT = "skipped_opted_out"
    SKIPPED_FREQUENCY_CAP = "skipped_frequency_cap"
    SKIPPED_FATIGUE = "skipped_fatigue"
    CANCELED = "canceled"
    CLICKED = "clicked"
    CONVERTED = "converted"


PROGRESS = tuple(CampaignCounter)


def skipped(reason: str) -> CampaignCounter:
    """The counter of recipients skipped for ``reason`` (one of ``SKIP_REASONS``)."""
    return CampaignCounter(f"skipped_{reason}")


def takes_part(campaign: Campaign, openid: str) -> bool:
    """Whether a pending recipient gets a card in the campaign's current phase."""
    if campaign.phase is CampaignPhase.TEST:
        assert campaign.experiment is not None
        return experiments.in_test_group(
            campaign.campaign_id, openid, campaign.experiment.test_percent
        )
    return campaign.phase is CampaignPhase.SEND


def variant_for(campaign: Campaign, openid: str) -> Variant | None:
    """The recipient's variant: by hash, or the experiment's winner once it was decided."""
    if not campaign.variants:
        return None
    if campaign.phase is CampaignPhase.SEND and campaign.experiment is not None:
        winner = campaign.decision.winner
        return next(v for v in campaign.variants if v.name == winner)
    weights = [(v.name, v.weight) for v in campaign.variants]
    name = experiments.variant_of(campaign.campaign_id, openid, weights)
    return next(v for v in campaign.variants if v.name == name)


def message_data(
    campaign: Campaign, variant: Variant | None, recipient: Mapping[str, str]
) -> dict[str, str]:
    """The campaign's data, under the variant's, under the recipient's own."""
    return {**campaign.data, **(variant.data if variant else {}), **recipient}


def message_page(campaign: Campaign, variant: Variant | None) -> str | None:
    return (variant.page if variant else None) or campaign.page


# The throttle ------------------------------------------------------------------------------

SLOT_LAG_US = 1_000_000  # a slot counter behind the clock by more than this restarts at now


STEP_SLOTS_S = 5  # a throttled step writes at most this many seconds of cards


def step_size(campaign: Campaign, page: int) -> int:
    """Recipients one step handles: a page, or fewer when throttled, so that a step (which
    holds up the cards queued behind it in its batch) stays short next to the cards' pace."""
    if campaign.rate_per_minute is None:
        return page
    return max(1, min(page, campaign.rate_per_minute * STEP_SLOTS_S // 60))


def slot_interval_us(rate_per_minute: int) -> int:
    """Whole microseconds between two send slots, rounded up: never faster than the rate."""
    return -(-60_000_000 // rate_per_minute)


def applied_rate_per_minute(rate_per_minute: int) -> float:
    """The rate the slots really give (60 000 000 µs over the interval), at most the asked."""
    return round(60_000_000 / slot_interval_us(rate_per_minute), 3)


def epoch_us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def slot_moment(slot_us: int) -> datetime:
    return datetime.fromtimestamp(slot_us / 1_000_000, tz=UTC)


def slots_reopen_at(campaign: Campaign, lookahead_s: int) -> datetime | None:
    """When the steps of a throttled campaign that wait for its slots come back (the look-ahead
    before the last slot handed out); None when no slot is handed out."""
    if campaign.rate_per_minute is None or campaign.next_slot_us is None:
        return None
    return slot_moment(campaign.next_slot_us) - timedelta(seconds=lookahead_s)


def slot_times_us(end_us: int, count: int, interval_us: int) -> list[int]:
    """The ``count`` slots just handed out, the last ending at ``end_us``.

    One counter (``next_slot_us``, moved atomically) hands slots to every container, so the
    cards of a campaign are spaced by the interval whichever container writes them: in any 60 s
    window at most rate + 1 slots fall.
    """
    first = end_us - count * interval_us
    return [first + i * interval_us for i in range(count)]


# Progress ----------------------------------------------------------------------------------


def progress_counts(
    counts: Mapping[Counter, int] | Mapping[CampaignCounter, int], reason: str | None
) -> dict[CampaignCounter, int]:
    """A move's progress counts (the app's counters under the campaign's names); ``skipped``
    gets the skip's reason."""
    named: dict[CampaignCounter, int] = {}
    for name, delta in counts.items():
        if name == Counter.SKIPPED:
            counter = skipped(reason if reason in SKIP_REASONS else "no_grant")
        else:
            counter = CampaignCounter(name.value)
        named[counter] = named.get(counter, 0) + delta
    return named


@dataclass(frozen=True)
class Progress:
    """A campaign's counters, summed over days and shards (``by_variant``: per variant)."""

    totals: dict[CampaignCounter, int]
    by_variant: dict[str, dict[CampaignCounter, int]]

    @classmethod
    def of(cls, rows: list[tuple[str, Mapping[CampaignCounter, int]]]) -> Progress:
        totals = dict.fromkeys(PROGRESS, 0)
        by_variant: dict[str, dict[str, int]] = {}
        for variant, counts in rows:
            per = by_variant.setdefault(variant, dict.fromkeys(PROGRESS, 0))
            for name in PROGRESS:
                value = int(counts.get(name, 0))
                totals[name] += value
                per[name] += value
        return cls(totals, by_variant)

    @property
    def finished(self) -> int:
        """Recipients with a final answer: sent, failed, skipped or canceled."""
        t = self.totals
        skips = sum(t[skipped(reason)] for reason in SKIP_REASONS)
        return (
            t[CampaignCounter.SENT]
            + t[CampaignCounter.FAILED]
            + skips
            + t[CampaignCounter.CANCELED]
        )


def variant_rates(
    progress: Progress, campaign: Campaign, metric: experiments.Metric
) -> list[experiments.VariantRates]:
    """Each variant's trials and successes for the experiment's metric, in the campaign's order."""
    empty = dict.fromkeys(PROGRESS, 0)
    found = []
    for variant in campaign.variants:
        counts = progress.by_variant.get(variant.name, empty)
        found.append(
            experiments.VariantRates.of(
                metric,
                variant.name,
                counts[CampaignCounter.SENT],
                # events reported for a card before it was counted sent, or a conversion
                # without a click, never make a rate above 1
                min(counts[CampaignCounter.CLICKED], counts[CampaignCounter.SENT]),
                min(
                    counts[CampaignCounter.CONVERTED],
                    counts[CampaignCounter.CLICKED],
                    counts[CampaignCounter.SENT],
                ),
            )
        )
    return found


def pending_of(campaign: Campaign, done: Progress) -> int:
    """Recipients still waiting for a card (none once the campaign stopped taking more)."""
    if campaign.stopped_at is not None:
        return 0
    return max(0, campaign.audience_size - done.totals[CampaignCounter.CREATED])


def canceled_of(campaign: Campaign, done: Progress) -> int:
    canceled = done.totals[CampaignCounter.CANCELED]
    if campaign.stopped_at is not None:
        canceled += max(0, campaign.audience_size - done.totals[CampaignCounter.CREATED])
    return canceled


def as_statistics(counts: Mapping[CampaignCounter, int]) -> dict[Counter, int]:
    """A campaign's counters under the names of the app's statistics (``skipped`` also counts
    the recipients skipped before a message was written; ``failed`` leaves ``unknown`` out)."""
    value = {name: int(counts.get(name, 0)) for name in PROGRESS}
    c = CampaignCounter
    return {
        Counter.REQUESTED: value[c.REQUESTED],
        Counter.SENT: value[c.SENT],
        Counter.FAILED: value[c.FAILED] - value[c.UNKNOWN],
        Counter.UNKNOWN: value[c.UNKNOWN],
        Counter.SKIPPED: sum(value[skipped(reason)] for reason in SKIP_REASONS),
        Counter.CLICKED: value[c.CLICKED],
        Counter.CONVERTED: value[c.CONVERTED],
    }
