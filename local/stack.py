"""The whole system on one machine (docs/local-stack.md): what `make run` starts and the end-to-end
test uses.

Embedded moto, the table and queues from the deploy template, the WeChat sandbox, the demo app,
`chalice local`, an SQS poller feeding the sender and a scheduler running the sweeps; all on
127.0.0.1, all stopped again by ``stop``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import bootstrap
from chalicelib.adapters import wechat
from infra.provision import Provisioned, provision
from local import lambdas
from local.aws.faults import Faults
from local.aws.server import AwsServer
from local.chalice_local import ChaliceLocal
from local.config import HOST, STAGE, LocalSettings
from local.demo import seed_sandbox, seed_submsg
from local.environment import Environment, aws_environment
from local.loops import Loop, stop_all
from local.poller import poll_once
from local.sandbox import Sandbox

# One poller polls short and often: moto's long poll does not wake when a delayed message becomes
# visible, and a reminder must not wait a second more for it. The others poll long: they wake
# when a message is sent, and cost the embedded AWS little while the queue is empty.
SHORT_POLL_EVERY_S = 0.1
WEBHOOK_POLL_EVERY_S = 0.5
LONG_POLL_S = 1
# Lambda's SQS event source runs several batches at once (five at first, then more, up to the
# sender's reserved concurrency); the stack runs eight.
SQS_POLLERS = 8
SWEEP_POLLERS = 2  # the sweep worker's: its steps arrive a few at a time, once a sweep


class PortInUse(RuntimeError):
    pass


class AwsEndpointUnreachable(RuntimeError):
    """SUBMSG_AWS_ENDPOINT did not answer as DynamoDB and SQS do."""


@dataclass(frozen=True)
class Endpoints:
    api: str
    aws: str
    wechat: str  # where submsg sends cards: the sandbox, or WECHAT_API_BASE
    sandbox: str | None  # None when an outside WeChat endpoint is used
    app_id: str
    api_key: str


def require_free_port(port: int, what: str) -> None:
    """Fail clearly before a server thread would fail on its own, out of sight."""
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise PortInUse(f"{what}: {HOST}:{port} is in use ({exc.strerror})") from exc


class LocalStack:
    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self._cleanup = contextlib.ExitStack()
        self._environment = Environment()
        self._api: ChaliceLocal | None = None
        self._aws: AwsServer | None = None
        self.sandbox: Sandbox | None = None  # while it runs, for tests that add apps to it

    def start(self) -> Endpoints:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stops everything started, newest first; safe to call more than once."""
        self._cleanup.close()

    def problem(self) -> str | None:
        """Why the stack cannot serve any more (a process of it ended), or None."""
        if self._api is None or (self._aws is None and self.settings.aws_endpoint is None):
            return "the stack is not started"
        return (self._aws.problem() if self._aws else None) or self._api.problem()

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self) -> Endpoints:
        settings, demo = self.settings, self.settings.demo()
        Faults.from_environment()  # FaultsError before anything starts
        require_free_port(settings.port, "API (SUBMSG_PORT)")
        self._cleanup.callback(self._environment.restore)
        self._cleanup.callback(self._forget_services)
        aws = settings.aws_endpoint or self._start_aws()
        self._environment.apply(aws_environment(aws))
        if settings.aws_endpoint:
            wait_until_answering(settings.aws_endpoint, settings.aws_endpoint_wait_s)
        resources = provision(boto3.session.Session(), stage=STAGE, endpoint_url=aws)
        sandbox = self._start_sandbox() if settings.wechat_api_base is None else None
        wechat_base = sandbox or settings.wechat_api_base or ""
        self._environment.apply(service_environment(resources, wechat_base, settings.local_metrics))
        self._forget_services()
        # Seeded and working before the API listens: its first 200 from health means ready.
        seed_submsg(bootstrap.services(), demo)
        self._start_workers(resources)
        api = self._start_api()
        api.wait_until_healthy()
        return Endpoints(api.url, aws, wechat_base, sandbox, demo.app_id, demo.api_key)

    def _start_aws(self) -> str:
        require_free_port(self.settings.aws_port, "AWS endpoint (SUBMSG_AWS_PORT)")
        server = AwsServer(self.settings.aws_port)
        self._cleanup.callback(server.stop)
        self._aws = server
        return server.start()

    def _start_sandbox(self) -> str:
        require_free_port(self.settings.sandbox_port, "WeChat sandbox (SUBMSG_SANDBOX_PORT)")
        sandbox = Sandbox(HOST, self.settings.sandbox_port)
        # The API is not up yet, but its address is known: pushes only follow a user's action.
        seed_sandbox(sandbox, self.settings.demo(), api_url=f"http://{HOST}:{self.settings.port}")
        url = sandbox.start()
        self._cleanup.callback(self._forget_sandbox)
        self._cleanup.callback(sandbox.stop)
        self.sandbox = sandbox
        return url

    def _start_api(self) -> ChaliceLocal:
        api = ChaliceLocal(lambdas.PROJECT_ROOT, self.settings.port, STAGE, os.environ)
        api.start()
        self._cleanup.callback(api.stop)
        self._api = api
        return api

    def _start_workers(self, resources: Provisioned) -> None:
        handlers = lambdas.Handlers(lambdas.load_app())
        pooled = Config(max_pool_connections=bootstrap.POOL_CONNECTIONS)  # every poller shares it
        sqs = boto3.session.Session().client("sqs", config=pooled)

        def poller(wait_s: int) -> Callable[[], int]:
            return lambda: poll_once(sqs, resources.send_queue_url, handlers.send, wait_s=wait_s)

        loops = [Loop("sqs-poller-0", poller(0), every_s=SHORT_POLL_EVERY_S)]
        loops += [
            Loop(f"sqs-poller-{n}", poller(LONG_POLL_S), every_s=0) for n in range(1, SQS_POLLERS)
        ]
        if resources.webhook_queue_url:  # the webhook deliverer, beside the sender
            # Short polls: the sender's long polls already take most of the embedded AWS's
            # threads, and a long poll more would keep the API's requests waiting for one.
            deliver = handlers.deliver_webhooks
            loops.append(
                Loop(
                    "webhook-poller",
                    lambda: poll_once(sqs, resources.webhook_queue_url, deliver, wait_s=0),
                    every_s=WEBHOOK_POLL_EVERY_S,
                )
            )
        # The sweep worker's event source: one record an invocation, a few at once.
        loops += [
            Loop(
                f"sweep-poller-{n}",
                lambda: poll_once(
                    sqs, resources.sweep_queue_url, handlers.sweep, LONG_POLL_S, max_records=1
                ),
                every_s=0,
            )
            for n in range(SWEEP_POLLERS)
        ]
        loops += [
            Loop("due-sweep", handlers.due_sweep, self.settings.local_sweep_every_s),
            Loop(
                "webhook-sweep", handlers.webhook_sweep, self.settings.local_webhook_sweep_every_s
            ),
            Loop("expiry-sweep", handlers.expiry_sweep, self.settings.local_expiry_every_s),
        ]
        self._cleanup.callback(stop_all, loops)
        for loop in loops:
            loop.start()

    def _forget_sandbox(self) -> None:
        self.sandbox = None

    @staticmethod
    def _forget_services() -> None:
        bootstrap.reset()
        wechat.clear_token_cache()


def wait_until_answering(endpoint: str, within_s: float) -> None:
    """Return once ``endpoint`` answers a DynamoDB and an SQS call (made-up credentials, as the
    stack's environment has them); AwsEndpointUnreachable after ``within_s``."""
    deadline = time.monotonic() + within_s
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1})
    session = boto3.session.Session()
    problem = ""
    while True:
        try:
            session.client("dynamodb", endpoint_url=endpoint, config=config).list_tables(Limit=1)
            session.client("sqs", endpoint_url=endpoint, config=config).list_queues()
            return
        except (BotoCoreError, ClientError, ValueError) as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if time.monotonic() + 1 > deadline:
            raise AwsEndpointUnreachable(
                f"SUBMSG_AWS_ENDPOINT={endpoint} does not answer as DynamoDB and SQS do "
                f"(tried for {within_s:g} s; last: {problem}): start it, or unset "
                "SUBMSG_AWS_ENDPOINT to use the embedded AWS"
            )
        time.sleep(1)


def service_environment(
    resources: Provisioned, wechat_base: str, metrics: bool = False
) -> dict[str, str | None]:
    """What submsg reads, in process and in `chalice local` (stage variables come on top)."""
    return {
        "SUBMSG_STAGE": STAGE,
        "SUBMSG_TABLE_NAME": resources.table_name,
        "SUBMSG_SEND_QUEUE_URL": resources.send_queue_url,
        "SUBMSG_WEBHOOK_QUEUE_URL": resources.webhook_queue_url,
        "SUBMSG_SWEEP_QUEUE_URL": resources.sweep_queue_url,
        # One process runs every worker here: a step for each of its pollers, not one a shard.
        "SUBMSG_SWEEP_GROUPS": os.environ.get("SUBMSG_SWEEP_GROUPS", str(SWEEP_POLLERS)),
        "WECHAT_API_BASE": wechat_base,
        "POWERTOOLS_METRICS_DISABLED": "false" if metrics else "true",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
    }
