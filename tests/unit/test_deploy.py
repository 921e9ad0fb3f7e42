"""This machine cannot run Docker: check the compose file and manifests against what the code reads."""

import json
import re
from pathlib import Path

import pytest
import yaml

from services.api.config import ApiSettings

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
MANIFESTS = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "creditflow.yaml").read_text()))
WORKERS = ("metering", "wallet", "notifications", "payments", "subscriptions", "scheduler", "api")
SETTINGS_ENV = {(f.alias or name).upper() for name, f in ApiSettings.model_fields.items()}


def test_compose_runs_kafka_in_kraft_mode_and_mongodb_as_a_replica_set() -> None:
    services = COMPOSE["services"]

    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]
    assert "--replSet" in services["mongodb"]["command"]


@pytest.mark.parametrize("worker", WORKERS)
def test_compose_has_one_container_per_worker_from_the_one_image(worker: str) -> None:
    service = COMPOSE["services"][worker]

    assert service["build"] == "."
    assert service["command"] == ["python", "-m", f"services.{worker}"]
    assert (ROOT / "services" / worker / "__main__.py").exists()


@pytest.mark.parametrize("worker", WORKERS)
def test_every_worker_environment_variable_is_one_the_code_reads(worker: str) -> None:
    env = set(COMPOSE["services"][worker]["environment"])

    assert env <= SETTINGS_ENV, env - SETTINGS_ENV
    assert {"KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"} <= env
    if worker == "notifications":
        assert "SMTP_URL" in env


def test_the_kubernetes_config_names_only_variables_the_code_reads() -> None:
    keys = set()
    for doc in MANIFESTS:
        if doc["kind"] == "ConfigMap":
            keys |= set(doc["data"])
        if doc["kind"] == "Secret":
            keys |= set(doc["stringData"])

    assert keys <= SETTINGS_ENV, keys - SETTINGS_ENV
    deployments = {d["metadata"]["name"] for d in MANIFESTS if d["kind"] == "Deployment"}
    # the sandbox payment provider is for the local stack; production plugs a real provider's adapter in
    assert deployments == {f"creditflow-{w}" for w in WORKERS if w != "payments"}


PROMETHEUS = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
ALERTS = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "creditflow.json").read_text())


def _metrics_the_code_exposes() -> set[str]:
    """Every counter and histogram a worker's /metrics can show: FastStream's Kafka middleware (registered in the
    process's registry when it is made) and creditflow's own."""
    from prometheus_client import REGISTRY, CollectorRegistry

    from shared.metrics import ConsumerLag, DatabaseUse, kafka_middleware

    kafka_middleware("test")
    own = CollectorRegistry()
    own.register(DatabaseUse("test", lambda: {"round_trips": {}, "documents_written": {}}))
    lag = ConsumerLag()
    lag.update([{"group": "wallet", "topic": "wallet.commands", "partition": 0, "lag": 3}], 0.0)
    own.register(lag)
    families = [*REGISTRY.collect(), *own.collect()]
    suffix = {"counter": "_total", "histogram": "_bucket", "gauge": ""}
    return {f.name + suffix[f.type] for f in families if f.type in suffix}


def _named_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:creditflow|faststream)_[a-z_]+)\b", expr))


def test_prometheus_scrapes_every_worker_that_serves_metrics_on_its_health_port() -> None:
    workers, api = PROMETHEUS["scrape_configs"]
    targets = {t.split(":")[0] for c in workers["static_configs"] for t in c["targets"]}
    port = COMPOSE["services"]["metering"]["environment"]["HEALTH_PORT"]

    assert targets == {"metering", "wallet", "payments", "subscriptions", "notifications", "scheduler"}
    assert all(t.endswith(f":{port}") for c in workers["static_configs"] for t in c["targets"])
    assert api["static_configs"] == [{"targets": [f"api:{COMPOSE['services']['api']['environment']['API_PORT']}"]}]
    assert {"prometheus", "grafana"} <= set(COMPOSE["services"])


def test_every_dashboard_panel_and_alert_reads_a_metric_the_code_exposes() -> None:
    exposed = _metrics_the_code_exposes()
    used = {n for p in DASHBOARD["panels"] for t in p["targets"] for n in _named_metrics(t["expr"])}
    used |= {n for g in ALERTS["groups"] for r in g["rules"] for n in _named_metrics(r["expr"])}

    assert used, "the dashboard and the alerts read metrics"
    assert used <= exposed, used - exposed


def test_kubernetes_scrapes_every_deployment_that_serves_metrics() -> None:
    annotated = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {})
        for d in MANIFESTS
        if d["kind"] == "Deployment"
    }
    serving = set(annotated)

    assert serving, annotated
    for name in serving:
        assert annotated[name].get("prometheus.io/scrape") == "true", name
        assert annotated[name].get("prometheus.io/path") == "/metrics", name
