"""The short chaos run (`make chaos` is the long one): every worker killed and restarted at random, some restarted
gracefully, a rebalance, MongoDB down and the broker paused for a few seconds, while usage (each event up to three
times, out of order), top-ups on Kafka and through the API, auto-recharges and a simulated year of subscriptions
(each scheduler run its own process, some SIGKILLed mid-run) go in with bad inputs on every topic and route; the
harness's independent audit must find nothing lost, doubled, misplaced or below a floor."""

import pytest

from proof.chaos import Config, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1500)
def test_nothing_is_lost_or_doubled_on_any_money_path_while_workers_die_and_servers_stop(tmp_path) -> None:
    config = Config(tenants=14, events=400, seed=11, kill_cycles=10, outage_seconds=4, api_topups=8,
                    kafka_topups=30, bad_inputs=120, timeout=600)  # fmt: skip
    report = run(config, json_out=tmp_path / "chaos.json")

    print(report.summary())
    assert report.violations == []
    assert report.kill_cycles >= 10 and report.graceful_restarts >= 1 and report.rebalances >= 1 and report.freezes >= 1
    assert report.mongo_outages == 1 and report.broker_pauses == 1
    assert report.scheduler_runs > report.scheduler_kills >= 1  # the scheduler killed mid-run, and run again
    assert report.duplicates > 0 and report.bad_inputs > 0 and report.bad_api_requests > 0
    assert report.subscribers >= 3 and report.api_topups == 8
    assert (tmp_path / "chaos.json").exists()
