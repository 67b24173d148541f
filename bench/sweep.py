"""The due sweep: items read per due message, with a small and a large backlog of reminders;
how fast it enqueues a burst of reminders due in the same second, and what that costs in CPU."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import boto3

from bench.harness import APP_ID, aws_environment

DUE = 100
BURST = 2_000  # reminders due in the same second


@dataclass
class Burst:
    due: int
    workers: int  # worker threads in each sweep worker
    groups: int  # sweep workers the run fanned out to
    seconds: float
    cpu_s: float  # the process's CPU time during the sweep
    aws_cpu_s: float  # of which moto's, serving the requests in this process
    pages: int
    calls: dict[str, int]

    @property
    def per_s(self) -> float:
        return self.due / self.seconds

    @property
    def client_cpu_ms_per_1k(self) -> float:
        """submsg's and botocore's own CPU per 1 000 enqueued: what a Lambda spends."""
        return (self.cpu_s - self.aws_cpu_s) / self.due * 1_000_000


def reads_per_due(backlog: int) -> float:
    from chalicelib import bootstrap
    from chalicelib.domain import clock
    from chalicelib.domain.records import Category, Message, MessageStatus, TemplateKind
    from chalicelib.services import admin, sweeps

    with aws_environment(f"bench-sweep-{backlog}") as resources:
        services = bootstrap.services()
        admin.create_app(services.app_secrets, admin.new_app(APP_ID, "Bench"), "bench-secret")
        now = clock.now()
        db = boto3.client("dynamodb")

        def message(n: int, send_at) -> dict:
            record = Message(
                id=clock.new_id("msg"),
                app_id=APP_ID,
                openid=f"oUser{n:08d}",
                template_id="TplBench",
                kind=TemplateKind.ONE_TIME,
                category=Category.REMINDER,
                data={"thing1": "Class"},
                send_at=send_at,
                status=MessageStatus.SCHEDULED,
                created_at=now,
            )
            return services.core.store.messages.item(record, send_at)

        items = [message(n, now + timedelta(days=1, seconds=n)) for n in range(backlog)]
        items += [message(n, now + timedelta(seconds=30)) for n in range(DUE)]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": _wire(i)}} for i in items[start : start + 25]]
            db.batch_write_item(RequestItems={resources.table_name: batch})
        budget = services.core.settings.model_copy(update={"sweep_time_budget_s": 600.0})
        core = replace(services.core, settings=budget)
        report = sweeps.due_sweep(replace(services.sweeping, core=core))
        if report.enqueued != DUE:
            raise RuntimeError(f"enqueued {report.enqueued} of {DUE} due")
        return report.read / report.enqueued


def _wire(item: dict) -> dict:
    from chalicelib.adapters.store.dynamo_requests import to_item

    return to_item(item)


def burst(due: int = BURST, workers: int | None = None) -> Burst:
    """``due`` reminders due in the same second, swept by one scheduled run: its fan-out over
    the sweep queue, and each step handed to the sweep worker in turn (one process does what
    the workers' Lambdas do at once). Every one must be enqueued once and marked queued."""
    from chalicelib import bootstrap
    from chalicelib.api.worker import process_sweep
    from chalicelib.domain import clock
    from chalicelib.services import admin, sweeps
    from local.poller import poll_once

    with aws_environment(f"bench-burst-{workers}") as resources:
        os.environ["SUBMSG_SWEEP_QUEUE_URL"] = resources.sweep_queue_url
        os.environ["SUBMSG_SWEEP_TIME_BUDGET_S"] = "600"
        if workers is not None:
            os.environ["SUBMSG_SWEEP_WORKERS"] = str(workers)
        bootstrap.reset()
        try:
            services = bootstrap.services()
            admin.create_app(services.app_secrets, admin.new_app(APP_ID, "Bench"), "bench-secret")
            now = clock.now()
            send_at = now.replace(microsecond=0) + timedelta(seconds=30)
            db, sqs = boto3.client("dynamodb"), boto3.client("sqs")
            items = [_message(services, n, send_at, now) for n in range(due)]
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": _wire(i)}} for i in items[start : start + 25]]
                db.batch_write_item(RequestItems={resources.table_name: batch})
            reports = []

            def worker(event: dict) -> dict:
                reports.append(process_sweep(services, event, None))
                return {}

            with _moto_cpu() as aws_cpu, _calls() as calls:
                cpu, started = time.process_time(), time.perf_counter()
                scheduled = sweeps.due_sweep(services.sweeping)
                while poll_once(sqs, resources.sweep_queue_url, worker, max_records=1):
                    pass
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            enqueued = scheduled.enqueued + sum(r["enqueued"] for r in reports)
            if enqueued != due:
                raise RuntimeError(f"enqueued {enqueued} of {due} due")
            queued = sqs.get_queue_attributes(
                QueueUrl=resources.send_queue_url,
                AttributeNames=["ApproximateNumberOfMessagesDelayed"],
            )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
            if int(queued) != due:
                raise RuntimeError(f"{queued} SQS messages for {due} due")
            pages = sum(r["pages"] for r in reports)
            return Burst(
                due,
                services.core.settings.sweep_workers,
                scheduled.fanned_out,
                seconds,
                cpu,
                aws_cpu[0],
                pages,
                calls,
            )
        finally:
            for name in ("QUEUE_URL", "TIME_BUDGET_S", "WORKERS"):
                os.environ.pop(f"SUBMSG_SWEEP_{name}", None)


def _message(services, n: int, send_at, now) -> dict:
    from chalicelib.domain import clock
    from chalicelib.domain.records import Category, Message, MessageStatus, TemplateKind

    record = Message(
        id=clock.new_id("msg"),
        app_id=APP_ID,
        openid=f"oUser{n:08d}",
        template_id="TplBench",
        kind=TemplateKind.ONE_TIME,
        category=Category.REMINDER,
        data={"thing1": "Class"},
        send_at=send_at,
        status=MessageStatus.SCHEDULED,
        created_at=now,
    )
    return services.core.store.messages.item(record, send_at)


@contextmanager
def _moto_cpu() -> Iterator[list[float]]:
    """The CPU time moto spends answering requests (summed over the threads that call it)."""
    from moto.core.botocore_stubber import BotocoreStubber

    spent = [0.0]
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def timed(self, event_name, request, **kwargs):  # type: ignore[no-untyped-def]
        started = time.thread_time()
        try:
            return original(self, event_name, request, **kwargs)
        finally:
            with lock:
                spent[0] += time.thread_time() - started

    BotocoreStubber.__call__ = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


@contextmanager
def _calls() -> Iterator[dict[str, int]]:
    """AWS requests by operation."""
    import botocore.client

    counted: dict[str, int] = {}
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def call(self, operation, params):  # type: ignore[no-untyped-def]
        with lock:
            counted[operation] = counted.get(operation, 0) + 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
