"""Structured logs (Powertools), with personal data masked; metrics live in ``metrics``."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="submsg")


def mask(openid: str) -> str:
    """Enough of an openid to correlate log lines, not enough to identify the user."""
    if len(openid) <= 8:
        return "***"
    return f"{openid[:4]}***{openid[-4:]}"
