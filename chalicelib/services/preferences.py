"""A user's preferences, and erasure of everything submsg keeps about a user."""

from __future__ import annotations

from chalicelib.adapters.observability import logger, mask
from chalicelib.domain import clock, policy
from chalicelib.domain.errors import FieldProblem, ValidationFailed
from chalicelib.domain.records import App
from chalicelib.domain.users import Preferences
from chalicelib.services import campaign_withdraw, webhook_delivery
from chalicelib.services.commands import ChangePreferences
from chalicelib.services.deps import Core


def get(core: Core, app: App, openid: str) -> Preferences:
    return core.store.users.load(app.app_id, openid).preferences


def update(core: Core, app: App, openid: str, change: ChangePreferences) -> Preferences:
    changes = change.changes()
    timezone = changes.get("timezone")
    if timezone is not None and not policy.valid_timezone(timezone):
        raise ValidationFailed(
            "The timezone is not known.", [FieldProblem("timezone", "not an IANA timezone name")]
        )
    current = core.store.users.load(app.app_id, openid).preferences
    updated = Preferences.model_validate({**current.model_dump(), **changes})
    core.store.users.put_preferences(app.app_id, openid, updated)
    return updated


def erase_user(core: Core, app: App, openid: str) -> None:
    """Delete grants, preferences, messages, campaign recipient records and webhook deliveries
    of one user (right to erasure)."""
    store = core.store
    # first, so that each campaign counts the user canceled and its books still close
    recipient_keys = campaign_withdraw.leave_campaigns(core, app, openid, clock.now())
    message_keys = store.messages.user_message_keys(app.app_id, openid) + recipient_keys
    store.messages.delete_keys(message_keys)
    erased = store.users.erase(app.app_id, openid)
    # last: the messages are gone, so no move of theirs reports an event about the user anymore
    erased += webhook_delivery.erase_user(core, app.app_id, openid)
    logger.info("user erased", extra={"openid": mask(openid), "items": erased + len(message_keys)})
