"""The webhook flows again on the embedded AWS: the outbox in DynamoDB's transactions, the
delivery log's pages and conditions, the webhook queue's delays."""

from tests.flows import test_flow_webhooks as flows
from tests.support.tiers import rerun_on_aws

globals().update(rerun_on_aws(flows))
