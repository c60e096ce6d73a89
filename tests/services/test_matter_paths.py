"""Every scenario of the matter table (tests/workflows/driver.py) through the service layer, on both backends.

The Spiff-level run (tests/workflows/test_workflows_paths.py) proves the diagrams; this one proves that
registering, completing tasks as the users of each lane and firing timers through ``services.cases`` gives
the same cases, with the derived rows, trips, outcome and audit trail the rest of the system reads.
"""

from __future__ import annotations

import pytest
from driver import SCENARIOS
from service_driver import check_expectations, check_service_facts, read_back, run_scenario


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_through_services(installed, scenario):
    run = run_scenario(installed.uow, scenario, installed.people)
    got = read_back(installed.uow, run)
    check_expectations(run, got)
    check_service_facts(run, got)
