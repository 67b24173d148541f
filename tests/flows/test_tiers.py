"""The tiers the tests run in: flows on the in-memory store unless they ask for the embedded AWS,
every container of a test on the same backend, and helpers imported from tests/support only."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import tests
from chalicelib import bootstrap
from chalicelib.adapters.memory import MemoryQueue
from chalicelib.adapters.queue import SqsQueue
from chalicelib.adapters.store.dynamo import DynamoTable
from chalicelib.adapters.store.memory import MemoryTable
from tests.support.tenants import APP_ID

TESTS = Path(tests.__file__).resolve().parent


def test_a_flow_runs_on_the_in_memory_store_by_default(backend, services):
    assert backend.name == "memory"
    assert isinstance(services.core.store.table.table, MemoryTable)  # beneath the retry policy
    assert isinstance(services.core.queue, MemoryQueue)


def test_a_flow_that_asks_for_aws_runs_on_the_embedded_aws(aws, backend, services):
    assert backend is aws
    assert isinstance(services.core.store.table.table, DynamoTable)
    assert isinstance(services.core.queue, SqsQueue)


def test_every_container_of_a_test_reads_and_writes_the_same_backend(tenant, services):
    another = bootstrap.build(bootstrap.get_settings())
    assert another is not services
    assert another.core.store.catalog.get_app(APP_ID) == services.core.store.catalog.get_app(APP_ID)
    bootstrap.reset()  # a container started after a setting changed
    assert bootstrap.services().core.store.table.table is services.core.store.table.table


def test_no_test_module_imports_from_conftest():
    importing = [
        path.relative_to(TESTS).as_posix()
        for path in TESTS.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("conftest")
    ]
    assert importing == []


def test_a_rerun_on_aws_leaves_out_the_flows_marked_memory_only_and_keeps_the_rest():
    from tests.flows import test_flow_campaigns as flows
    from tests.support.tiers import rerun_on_aws

    tests_of = {name for name in vars(flows) if name.startswith("test_")}
    memory_only = {
        name
        for name in tests_of
        if any(mark.name == "memory_only" for mark in getattr(vars(flows)[name], "pytestmark", []))
    }
    on_aws = {name for name in tests_of if "aws" in inspect.signature(vars(flows)[name]).parameters}
    rerun = {name for name in rerun_on_aws(flows) if name.startswith("test_")}

    assert "test_the_throttle_spaces_the_cards_across_every_chain" in memory_only
    assert rerun == tests_of - memory_only - on_aws
