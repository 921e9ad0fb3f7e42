"""The short chaos run (`make chaos` is the long one): workers killed with SIGKILL and restarted, MongoDB
restarted once, every event published up to three times out of order, bad inputs mixed in; the harness's
independent audit must find nothing lost, doubled, misplaced or below a floor."""

import pytest

from proof.chaos import Config, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_no_credit_is_lost_or_doubled_while_workers_die_and_mongodb_restarts() -> None:
    report = run(Config(tenants=6, events=240, seed=11, kill_cycles=4, timeout=600))

    print(report.summary())
    assert report.violations == []
    assert report.kill_cycles == 4 and report.mongo_restarts == 1
    assert report.duplicates > 0 and report.bad_inputs > 0
