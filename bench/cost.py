"""What a card costs in AWS at on-demand prices: the arithmetic, from measured usage.

Prices: us-east-1, on-demand, public price pages of each service (aws.amazon.com/<service>/
pricing), checked 2026-12-04. The first tier of each; free tiers left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_GATEWAY_REST_PER_MILLION = 3.50  # REST API requests, first 333 million a month
API_GATEWAY_HTTP_PER_MILLION = 1.00  # HTTP API requests, first 300 million a month
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86_64, first 6 billion GB-s a month
LAMBDA_PER_MILLION_REQUESTS = 0.20
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625  # on-demand write request units (since 2024-11-01)
DYNAMODB_PER_MILLION_READ_UNITS = 0.125  # on-demand read request units (since 2024-11-01)
DYNAMODB_PER_GB_MONTH = 0.25  # Standard table class storage, after the first 25 GB
SQS_PER_MILLION_REQUESTS = 0.40  # standard queue, each 64 KB chunk of a payload is a request
LOGS_PER_GB_INGESTED = 0.50  # CloudWatch Logs, standard log class

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
SQS_CHUNK_BYTES = 64 * 1024
ITEM_OVERHEAD_BYTES = 100  # DynamoDB's storage overhead of every item (and index entry)
DAYS_A_MONTH = 30.4
CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"


# DynamoDB item sizes (developer guide, "Item sizes and formats") -----------------------------


def number_size(text: str) -> int:
    """A number: a byte per two significant digits, plus one."""
    mantissa = text.lstrip("+-").upper().split("E")[0]
    significant = mantissa.replace(".", "").strip("0")
    return (len(significant) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """One attribute value in DynamoDB's wire format ({"S": ...}, {"M": {...}}, ...)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    raise ValueError(f"not an attribute value: {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    """Write request units of one item: a unit per KB (rounded up), doubled in a transaction."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(size: int, consistent: bool) -> float:
    """Read request units: a unit per 4 KB (rounded up), half for an eventually consistent read."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # its hash and range key
    projected: frozenset[str] | None  # None: every attribute (ALL)


Item = Mapping[str, Mapping[str, Any]]


def entry(item: Item | None, index: Index, table_keys: Sequence[str]) -> Item | None:
    """The item as ``index`` holds it, or None when it is not on that (sparse) index."""
    if item is None or not all(key in item for key in index.keys):
        return None
    if index.projected is None:
        return item
    kept = {*table_keys, *index.keys, *index.projected}
    return {name: value for name, value in item.items() if name in kept}


def index_write_units(
    before: Item | None, after: Item | None, index: Index, table_keys: Sequence[str]
) -> int:
    """Writes a table write causes on one global secondary index (never transactional): one to
    add or remove an entry or change its projected attributes, two when its keys change."""
    old, new = entry(before, index, table_keys), entry(after, index, table_keys)
    if old == new:
        return 0
    if old is None or new is None:
        return write_units(item_size(old or new or {}))
    if any(old[key] != new[key] for key in index.keys):
        return write_units(item_size(old)) + write_units(item_size(new))
    return write_units(max(item_size(old), item_size(new)))


def sqs_requests(payload_bytes: int) -> int:
    return max(1, math.ceil(payload_bytes / SQS_CHUNK_BYTES))


def lambda_gb_seconds(durations_ms: Sequence[float], memory_mb: int) -> float:
    """Billed duration: each invocation rounded up to the millisecond."""
    return sum(math.ceil(ms) for ms in durations_ms) / 1000 * memory_mb / 1024


def configured_memory_mb(stage: str = "prod", config: Path = CONFIG) -> int:
    """The functions' memory, as `chalice package` sets it for ``stage``."""
    settings = json.loads(config.read_text(encoding="utf-8"))
    stage_settings = settings.get("stages", {}).get(stage, {})
    return int(stage_settings.get("lambda_memory_size", settings["lambda_memory_size"]))


# Usage and its price -------------------------------------------------------------------------


@dataclass
class Usage:
    """What some number of cards used, as measured."""

    cards: int
    api_requests: int = 0
    invocations: int = 0
    durations_ms: list[float] = field(default_factory=list)
    write_units: float = 0.0
    read_units: float = 0.0
    sqs_requests: int = 0
    log_bytes: int = 0
    stored_bytes: int = 0  # what stays in the table per the retention period
    retention_days: int = 90


def breakdown(usage: Usage, memory_mb: int, per_cards: int = 1_000_000) -> dict[str, float]:
    """USD per ``per_cards`` cards, by component."""
    million, gb = 1_000_000, 1024**3
    stored_gb_months = usage.stored_bytes / gb * usage.retention_days / DAYS_A_MONTH
    spent = {
        "API Gateway REST requests": usage.api_requests * API_GATEWAY_REST_PER_MILLION / million,
        "Lambda requests": usage.invocations * LAMBDA_PER_MILLION_REQUESTS / million,
        "Lambda GB-s": lambda_gb_seconds(usage.durations_ms, memory_mb) * LAMBDA_PER_GB_SECOND,
        "DynamoDB write units": usage.write_units * DYNAMODB_PER_MILLION_WRITE_UNITS / million,
        "DynamoDB read units": usage.read_units * DYNAMODB_PER_MILLION_READ_UNITS / million,
        "DynamoDB storage": stored_gb_months * DYNAMODB_PER_GB_MONTH,
        "SQS requests": usage.sqs_requests * SQS_PER_MILLION_REQUESTS / million,
        "CloudWatch Logs (EMF)": usage.log_bytes / gb * LOGS_PER_GB_INGESTED,
    }
    return {name: usd * per_cards / usage.cards for name, usd in spent.items()}
