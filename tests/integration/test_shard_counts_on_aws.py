"""tests/flows/test_flow_shard_counts.py again, every flow on the embedded AWS."""

from tests.flows import test_flow_shard_counts as flows
from tests.support.tiers import rerun_on_aws

globals().update(rerun_on_aws(flows))
