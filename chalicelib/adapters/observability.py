"""Structured logs and EMF metrics (Powertools), with personal data masked."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="submsg")
metrics = Metrics(namespace="submsg", service="submsg")


def mask(openid: str) -> str:
    """Enough of an openid to correlate log lines, not enough to identify the user."""
    if len(openid) <= 8:
        return "***"
    return f"{openid[:4]}***{openid[-4:]}"


def flush_metrics() -> None:
    if metrics.provider.metric_set:
        metrics.flush_metrics()
