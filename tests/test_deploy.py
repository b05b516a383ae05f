"""The deployment files, checked as far as this machine allows (no Docker engine, no cluster):
the Compose file through `docker-compose config`, the Kustomize base and overlay rendered by
`kubectl kustomize` and every manifest validated against the Kubernetes schemas
(kubernetes-validate, strict), and the promises between them read from what they render."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from llmgateway.catalog import load_catalog
from tests.conftest import ready_after_the_warm_up

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S_VERSION = "1.32.0"


def _kustomize(path: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (apt-get install kubectl)")
    rendered = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs if doc["kind"] != "Secret"} | {
        f"Secret/{doc['metadata']['name'].rsplit('-', 1)[0]}": doc for doc in docs if doc["kind"] == "Secret"
    }


@pytest.mark.parametrize("variant", ["base", "overlays/external-postgres-redis"])
def test_every_manifest_is_valid_kubernetes(variant: str) -> None:
    docs = _kustomize(DEPLOY / "kubernetes" / variant)
    assert sorted(doc["kind"] for doc in docs if doc["kind"] != "Secret") == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_pieces_point_at_each_other() -> None:
    kinds = _by_kind(_kustomize(DEPLOY / "kubernetes" / "base"))
    deployment, service = kinds["Deployment"], kinds["Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (service["spec"]["selector"], kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
                     deployment["spec"]["selector"]["matchLabels"]):  # fmt: skip
        assert selector.items() <= pod_labels.items()
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert container["ports"][0]["containerPort"] == int(env["LLMGATEWAY_PORT"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    pre_stop_s = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pre_stop_s + float(env["LLMGATEWAY_SHUTDOWN_GRACE_S"]) < pod["terminationGracePeriodSeconds"]
    catalog_mount = next(m for m in container["volumeMounts"] if m["name"] == "catalog")
    catalog_file = Path(env["LLMGATEWAY_CATALOG"])
    assert catalog_file.parent == Path(catalog_mount["mountPath"])
    config_map = kinds["ConfigMap"]
    assert catalog_file.name in config_map["data"]
    assert next(v for v in pod["volumes"] if v["name"] == "catalog")["configMap"]["name"] == config_map["metadata"]["name"]


def test_the_catalog_shipped_in_the_config_map_loads(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(_by_kind(_kustomize(DEPLOY / "kubernetes" / "base"))["ConfigMap"]["data"]["catalog.yaml"])
    assert "openai" in load_catalog(path).provider_ids()


def test_the_overlay_gives_every_replica_the_shared_database_and_redis() -> None:
    kinds = _by_kind(_kustomize(DEPLOY / "kubernetes" / "overlays" / "external-postgres-redis"))
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    secrets = [source["secretRef"]["name"] for source in container["envFrom"]]
    external = kinds["Secret/llmgateway-external"]
    assert external["metadata"]["name"] in secrets and kinds["Secret/llmgateway-keys"]["metadata"]["name"] in secrets
    assert sorted(external["data"]) == ["LLMGATEWAY_DATABASE_URL", "LLMGATEWAY_REDIS_URL"]


def test_the_probes_answer_on_a_running_gateway(shared_gateway_url: str) -> None:
    assert httpx.get(f"{shared_gateway_url}/health/live").status_code == 200
    assert ready_after_the_warm_up(shared_gateway_url).status_code == 200


def test_compose_runs_two_replicas_on_one_postgres_and_redis(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = tmp_path / ".env"
    env.write_text((DEPLOY / ".env.example").read_text())
    rendered = subprocess.run(
        ["docker-compose", "--project-directory", str(DEPLOY), "--env-file", str(env), "-f", str(DEPLOY / "compose.yaml"), "config"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load(rendered.stdout)
    services = config["services"]
    assert sorted(services) == ["gateway", "nginx", "postgres", "redis"]
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 2
    assert gateway["environment"]["LLMGATEWAY_DATABASE_URL"] == (
        "postgresql+asyncpg://llmgateway:change-me@postgres:5432/llmgateway")  # fmt: skip
    assert gateway["environment"]["LLMGATEWAY_REDIS_URL"] == "redis://redis:6379/0"
    assert {name: dep["condition"] for name, dep in gateway["depends_on"].items()} == {
        "postgres": "service_healthy", "redis": "service_healthy"}  # fmt: skip
    assert float(gateway["environment"]["LLMGATEWAY_SHUTDOWN_GRACE_S"]) < 30  # stop_grace_period
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data:rw"] and "postgres-data" in config["volumes"]
    assert "server gateway:8000;" in (DEPLOY / "nginx.conf").read_text()


def test_compose_refuses_to_start_without_a_database_password(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    empty = tmp_path / ".env"
    empty.write_text("")
    rendered = subprocess.run(
        ["docker-compose", "--project-directory", str(DEPLOY), "--env-file", str(empty), "-f", str(DEPLOY / "compose.yaml"), "config"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert rendered.returncode != 0 and "set POSTGRES_PASSWORD in deploy/.env" in rendered.stderr
