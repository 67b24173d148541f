"""tests/flows/test_secrets_hygiene.py again, on the embedded AWS: boto3's log lines too."""

from tests.flows import test_secrets_hygiene as flows
from tests.support.tiers import rerun_on_aws

globals().update(rerun_on_aws(flows))
