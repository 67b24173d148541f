"""Request and response shapes of the HTTP API (docs/api.md), one module per area; the source of
its OpenAPI document (``chalicelib.api.openapi``)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

# The campaign services still take these request models (tests/unit/test_layers.py, PENDING):
# they go from here when those services take commands. Loaded when asked for, so that importing
# one area's module does not build the others'.
_MOVED = {
    "CampaignIn": "campaigns",
    "RecipientIn": "campaigns",
    "BestTimeIn": "messages",
    "MessageIn": "messages",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(name)
    return getattr(import_module(f"{__name__}.{_MOVED[name]}"), name)
