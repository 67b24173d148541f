"""tests/flows/test_flow_sweep_spike.py again, every flow on the embedded AWS."""

from tests.flows import test_flow_sweep_spike as flows
from tests.support.tiers import rerun_on_aws

globals().update(rerun_on_aws(flows))
