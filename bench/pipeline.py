"""AWS calls per sent message, and pipeline throughput against the bare boto3 calls it needs."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import botocore

from bench.harness import (
    Pipeline,
    Recorded,
    aws_environment,
    counting_calls,
    wechat_accepting_everything,
)


@dataclass
class PipelineFigures:
    messages: int
    calls_per_message: float
    calls_by_operation: dict[str, float]
    pipeline_rate: float
    bare_rate: float

    @property
    def throughput_ratio(self) -> float:
        return self.pipeline_rate / self.bare_rate


def measure(messages: int = 200) -> PipelineFigures:
    with (
        counting_calls() as counter,
        aws_environment("bench-pipeline") as resources,
        wechat_accepting_everything(),
    ):
        pipeline = Pipeline(resources)
        pipeline.grant(messages + 1)
        pipeline.create()  # warm the per-container caches: app, key, template, secret, token
        pipeline.drain()
        counter.start()
        started = time.perf_counter()
        for _ in range(messages):
            pipeline.create()
        sent = pipeline.drain()
        elapsed = time.perf_counter() - started
        counter.active = False
    if sent != messages:
        raise RuntimeError(f"sent {sent} of {messages}")
    with aws_environment("bench-pipeline"):
        bare_elapsed = _replay(counter.log, counter.measured_from)
    return PipelineFigures(
        messages=messages,
        calls_per_message=counter.total() / messages,
        calls_by_operation={op: n / messages for op, n in sorted(counter.calls.items())},
        pipeline_rate=messages / elapsed,
        bare_rate=messages / bare_elapsed,
    )


def _replay(log: list[Recorded], measured_from: int) -> float:
    """The pipeline's own AWS requests, replayed bare on a fresh copy of the same starting state.

    Setup calls are replayed untimed; SQS receipt handles are mapped from the replay's receives.
    """
    clients = {service: boto3.client(service) for service in {r.service for r in log}}
    receipts: dict[str, str] = {}
    tokens: dict[str, str] = {}  # the run's ClientRequestTokens, each a new one in the replay
    started = 0.0
    for index, recorded in enumerate(log):
        if index == measured_from:
            started = time.perf_counter()
        if recorded.operation in {
            "CreateTable",
            "CreateQueue",
            "UpdateTimeToLive",
            "UpdateContinuousBackups",
            "SetQueueAttributes",
        }:
            continue
        params = _with_replay_receipts(recorded, receipts)
        if "ClientRequestToken" in params:  # else the embedded AWS answers it from its memory
            token = params["ClientRequestToken"]
            params["ClientRequestToken"] = tokens.setdefault(token, str(uuid.uuid4()))
        answer = getattr(clients[recorded.service], _snake(recorded.operation))(**params)
        if recorded.operation == "ReceiveMessage":
            fresh = {m["Body"]: m["ReceiptHandle"] for m in answer.get("Messages", [])}
            for message in recorded.answer.get("Messages", []):
                receipts[message["ReceiptHandle"]] = fresh.get(message["Body"], "")
    return time.perf_counter() - started


def _with_replay_receipts(recorded: Recorded, receipts: dict[str, str]) -> dict[str, Any]:
    params = dict(recorded.params)
    if recorded.operation == "DeleteMessageBatch":
        params["Entries"] = [
            {**e, "ReceiptHandle": receipts.get(e["ReceiptHandle"], "x")} for e in params["Entries"]
        ]
    elif "ReceiptHandle" in params:
        params["ReceiptHandle"] = receipts.get(params["ReceiptHandle"], "x")
    return params


def _snake(operation: str) -> str:
    return botocore.xform_name(operation)
