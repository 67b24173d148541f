"""Request and response shapes of the HTTP API (docs/api.md), one module per area; the source of
its OpenAPI document (``chalicelib.api.openapi``)."""

# The campaign services still take these request models (tests/unit/test_layers.py, PENDING):
# they go from here when those services take commands.
from chalicelib.api.schemas.campaigns import CampaignIn as CampaignIn
from chalicelib.api.schemas.campaigns import RecipientIn as RecipientIn
from chalicelib.api.schemas.messages import BestTimeIn as BestTimeIn
from chalicelib.api.schemas.messages import MessageIn as MessageIn
