"""One move of one campaign, as its table row applies it: the phase it begins (the campaign's
first, the one after the freeze, the one a resume goes on with) and the fields it sets. The rows
themselves are in ``campaign_phases``."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.campaign_phases import OWN_FIELDS, CampaignMove, Effect, Row, row
from chalicelib.domain.campaign_records import Campaign, CampaignPhase

P = CampaignPhase


def first_phase(campaign: Campaign) -> CampaignPhase:
    if campaign.audience == "holders":
        return P.FREEZE
    return after_freeze(campaign)


def after_freeze(campaign: Campaign) -> CampaignPhase:
    return P.TEST if campaign.experiment is not None else P.SEND


def phase_to_resume(campaign: Campaign) -> CampaignPhase | None:
    """The phase a resume goes on with: the current one, or the sending again when the pause
    came after the last page (its withdrawn recipients are pending once more)."""
    if campaign.phase is P.FINISH and campaign.stopped_at is None:
        return P.SEND
    return campaign.phase


def target_phase(
    move: CampaignMove, campaign: Campaign, to_phases: AbstractSet[CampaignPhase]
) -> CampaignPhase | None:
    """The phase a move that begins one goes to, for this campaign."""
    match move:
        case CampaignMove.START | CampaignMove.BEGIN:
            return first_phase(campaign)
        case CampaignMove.FROZEN:
            return after_freeze(campaign)
        case CampaignMove.RESUME:
            return phase_to_resume(campaign)
    (only,) = to_phases
    return only


@dataclass(frozen=True)
class CampaignTransition:
    """One move of one campaign as read, with everything its conditional write needs."""

    campaign: Campaign
    move: CampaignMove
    now: datetime
    changes: Mapping[str, Any] = field(default_factory=dict)  # other fields set with the move
    phase: CampaignPhase | None = None  # the phase it begins (found by the rules if not given)

    def __post_init__(self) -> None:
        found = row(self.move, self.campaign.status, self.campaign.phase)
        if found is None:
            status, phase = self.campaign.status, self.campaign.phase
            raise ValueError(f"a {status} campaign (phase {phase}) cannot {self.move}")
        if found.to_phases is None:
            if self.phase is not None:
                raise ValueError(f"{self.move} keeps the phase")
        else:
            phase = self.phase or target_phase(self.move, self.campaign, found.to_phases)
            if phase not in found.to_phases:
                raise ValueError(f"{self.move} cannot begin {phase}")
            object.__setattr__(self, "phase", phase)
        named = set(self.changes) & (OWN_FIELDS | set(found.stamps))
        if named:
            raise ValueError(f"{self.move} sets {sorted(named)} itself")

    @property
    def row(self) -> Row:
        found = row(self.move, self.campaign.status, self.campaign.phase)
        assert found is not None
        return found

    def values(self) -> dict[str, Any]:
        """The fields the move sets (the chains' cursors and generation aside)."""
        found = self.row
        values: dict[str, Any] = {"status": found.status}
        if self.phase is not None:
            values["phase"] = self.phase
        values.update(dict.fromkeys(found.stamps, self.now))
        if Effect.SLOTS in found.effects and self.campaign.rate_per_minute is not None:
            # At send_at, not before, even when the tick begins it a little early.
            starts_at = max(self.now, self.campaign.send_at or self.now)
            values["next_slot_us"] = int(starts_at.timestamp() * 1000) * 1000
        values.update(self.changes)
        return values
