"""The webhook circuit again on the embedded AWS: the endpoint's lease and backoff under
DynamoDB's conditions, the held-back deliveries on the webhook queue's delays."""

from tests.flows import test_flow_webhook_isolation as flows
from tests.support.tiers import rerun_on_aws

globals().update(rerun_on_aws(flows))
