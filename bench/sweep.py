"""Due-sweep cost: items read per due message, with a small and a large backlog of reminders."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import boto3

from bench.harness import APP_ID, aws_environment

DUE = 100


def reads_per_due(backlog: int) -> float:
    from chalicelib import bootstrap
    from chalicelib.domain import clock
    from chalicelib.domain.records import Category, Message, MessageStatus, TemplateKind
    from chalicelib.services import admin, sweeps

    with aws_environment(f"bench-sweep-{backlog}") as resources:
        services = bootstrap.services()
        admin.create_app(services, admin.new_app(APP_ID, "Bench"), "bench-secret")
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
            return services.store.messages.item(record, send_at)

        items = [message(n, now + timedelta(days=1, seconds=n)) for n in range(backlog)]
        items += [message(n, now + timedelta(seconds=30)) for n in range(DUE)]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": _wire(i)}} for i in items[start : start + 25]]
            db.batch_write_item(RequestItems={resources.table_name: batch})
        budget = services.settings.model_copy(update={"sweep_time_budget_s": 600.0})
        report = sweeps.due_sweep(replace(services, settings=budget))
        if report.enqueued != DUE:
            raise RuntimeError(f"enqueued {report.enqueued} of {DUE} due")
        return report.read / report.enqueued


def _wire(item: dict) -> dict:
    from chalicelib.adapters.store.dynamo import to_item

    return to_item(item)
