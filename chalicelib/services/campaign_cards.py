"""A campaign's card at the sender: held back while its campaign is paused or stopped (SPEC
§10). The campaign is read through a short cache, so a pause is seen within
``campaign_status_cache_s`` at one read per container and campaign, not one per card."""

from __future__ import annotations

from chalicelib.domain.lifecycle import Move
from chalicelib.domain.records import CampaignStatus
from chalicelib.ports import Services, TransactionFailed
from chalicelib.services.lifecycle import MessageSteps

C = CampaignStatus
RECIPIENT, PAUSED = "recipient", "still_paused"


def held_back(services: Services, steps: MessageSteps) -> bool:
    """Whether a campaign's card must not go now: its campaign paused (the message is withdrawn
    and its recipient waits for the resume) or stopped (the message is canceled). Read through a
    short cache, so a pause is seen within ``campaign_status_cache_s``."""
    message = steps.message
    if message.campaign_id is None:
        return False
    status, stopped = _status(services, message.app_id, message.campaign_id)
    if status is C.RUNNING and not stopped:
        return False
    if status is C.PAUSED and not stopped:
        store = services.store
        back = store.campaigns.recipient_back(
            message.campaign_id, message.app_id, message.openid, message.id
        )
        still = store.campaigns.still_paused(message.app_id, message.campaign_id)
        try:
            steps.apply(steps.transition(Move.WITHDRAW), extra={RECIPIENT: back, PAUSED: still})
        except TransactionFailed as failed:
            if failed.on(PAUSED):
                return False  # resumed meanwhile (the cache was behind): the card goes now
            raise
    else:
        steps.apply(steps.transition(Move.CANCEL))
    return True


def _status(services: Services, app_id: str, campaign_id: str) -> tuple[CampaignStatus, bool]:
    def load() -> tuple[CampaignStatus, bool] | None:
        found = services.store.campaigns.get(app_id, campaign_id)
        if found is None:
            return None
        return found.campaign.status, found.campaign.stopped_at is not None

    return services.campaign_statuses.get((app_id, campaign_id), load) or (C.CANCELED, True)
