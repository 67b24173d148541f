"""The stage's dashboard and the alarms on submsg's own metrics, as template resources.

They live in infra/resources.json like every other resource, as its last block: edit
infra/alarms.py or infra/dashboard.py and run ``python -m infra.monitoring`` to write them there
(a test checks that the two agree).
"""

from __future__ import annotations

import json
from typing import Any

from infra import dashboard
from infra.alarms import ALARMS
from infra.provision import RESOURCES_FILE

DASHBOARD = "Dashboard"

Json = dict[str, Any]


def resources() -> dict[str, Json]:
    board = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Metadata": {
            "Comment": "Written by python -m infra.monitoring: edit infra/dashboard.py instead."
        },
        "Properties": {
            # Dashboards are global to an account: the region keeps two regions' stages apart.
            "DashboardName": {"Fn::Sub": "submsg-${Stage}-${AWS::Region}"},
            "DashboardBody": {"Fn::Sub": dashboard.body()},
        },
    }
    return {**ALARMS, DASHBOARD: board}


def main() -> None:
    template = json.loads(RESOURCES_FILE.read_text(encoding="utf-8"))
    others = {k: v for k, v in template["Resources"].items() if k not in resources()}
    template["Resources"] = {**others, **resources()}
    RESOURCES_FILE.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
