"""deploy/k8s and deploy/kustomization.yaml: valid Kubernetes objects (the API's schemas, shipped
offline by kubernetes-validate) that agree with the code and with deploy/nats."""

import copy

import kubernetes_validate
import pytest
import yaml

from duban.nats_config import users
from services.console.config import DEFAULT_CONSOLE_PORT
from shared.bus import nats_servers
from shared.settings import DEFAULT_PORTS, SERVICES, Settings
from tests.unit.deploy_checks import (
    README, ROOT, nats_conf, nats_routes, nats_users, nats_value, variables_read_by,
)

DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30"  # the oldest Kubernetes these manifests are meant for
PORTS = {**DEFAULT_PORTS, "console": DEFAULT_CONSOLE_PORT}
AUTOSCALED = {"intake", "tracking", "notify", "console"}


def manifests() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def objects(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def kustomization() -> dict:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"]["labels"]


def config_map() -> dict[str, str]:
    return objects("ConfigMap")["duban-config"]["data"]


@pytest.mark.parametrize("name, doc", manifests(),
                         ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}")
def test_every_object_follows_the_kubernetes_api_schema(name, doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    deployment = copy.deepcopy(objects("Deployment")["tracking"])
    container(deployment)["readinesProbe"] = container(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_takes_every_manifest_and_the_shared_config_files():
    k = kustomization()
    assert sorted(k["resources"]) == sorted(f"k8s/{p.name}" for p in (DEPLOY / "k8s").glob("*.yaml"))
    generated = {}
    for generator in k["configMapGenerator"]:
        entries = dict(entry.split("=", 1) for entry in generator["files"])
        assert all((DEPLOY / source).is_file() for source in entries.values())
        generated[generator["name"]] = entries
    assert generated["nats-config"] == {"nats.conf": "nats/nats-kubernetes.conf",
                                        "auth.conf": "nats/auth.conf"}
    assert generated["otel-collector-config"] == {"collector.yaml": "otel/collector.yaml"}
    known_maps = set(generated) | set(objects("ConfigMap"))
    for workload in [*objects("Deployment").values(), *objects("StatefulSet").values()]:
        pod = workload["spec"]["template"]["spec"]
        used = {v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
        used |= {source["configMapRef"]["name"] for c in pod["containers"]
                 for source in c.get("envFrom", []) if "configMapRef" in source}
        assert used <= known_maps, workload["metadata"]["name"]


@pytest.mark.parametrize("name", [*SERVICES, "console"])
def test_each_service_has_a_deployment_a_service_and_probes_on_its_port(name):
    deployment, service = objects("Deployment")[name], objects("Service")[name]
    main = container(deployment)
    assert main["image"] == "duban"  # kustomization.yaml's images: sets the registry and tag
    if name == "console":
        assert main["command"] == ["python", "-m", "services.console"]
    else:
        assert main["args"] == [name]
    assert main["ports"] == [{"name": "http", "containerPort": PORTS[name]}]
    assert service["spec"]["ports"] == [{"name": "http", "port": PORTS[name], "targetPort": "http"}]
    assert service["spec"]["selector"].items() <= pod_labels(deployment).items()
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    assert "memory" in main["resources"]["limits"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_connects_as_its_own_nats_user_with_secrets_by_reference(name):
    env = {item["name"]: item for item in container(objects("Deployment")[name])["env"]}
    upper = name.upper()
    assert set(env) <= variables_read_by(name), set(env) - variables_read_by(name)
    assert env[f"DUBAN_{upper}_NATS_USER"]["value"] == name and name in nats_users()
    password = env[f"DUBAN_{upper}_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": "duban-nats", "key": f"{upper}_NATS_PASSWORD"}
    assert password["key"] in {user.password_variable for user in users()}
    database = env[f"DUBAN_{upper}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert database == {"name": "duban-db", "key": f"{upper}_DATABASE_URL"}
    assert env["OTEL_SERVICE_NAME"]["value"] == f"duban-{name}"


def test_the_console_calls_the_services_by_their_kubernetes_names():
    env = {item["name"]: item.get("value") for item in container(objects("Deployment")["console"])["env"]}
    assert set(env) <= variables_read_by("console")
    for name in SERVICES:
        assert env[f"DUBAN_CONSOLE_{name.upper()}_URL"] == f"http://{name}:{DEFAULT_PORTS[name]}"
    # Production refuses the dev sign-in: the console signs people in with the provider.
    assert env["DUBAN_CONSOLE_OIDC_ISSUER"] and env["DUBAN_CONSOLE_OIDC_CLIENT_ID"]
    assert env["DUBAN_CONSOLE_OIDC_REDIRECT_URL"].endswith("/oidc/callback")


def test_the_shared_config_points_at_the_nats_pods_with_three_replicas(monkeypatch):
    data = config_map()
    readers = set().union(*(variables_read_by(name) for name in [*SERVICES, "console"]))
    assert set(data) <= readers, set(data) - readers
    statefulset = objects("StatefulSet")["nats"]
    pods = [f"{statefulset['metadata']['name']}-{i}.{statefulset['spec']['serviceName']}"
            for i in range(statefulset["spec"]["replicas"])]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert nats_servers(settings.nats_url) == [f"nats://{pod}:4222" for pod in pods]
    assert settings.stream_replicas == 3 and settings.production and settings.auth_jwks_url


def test_nats_is_a_three_node_statefulset_routed_through_its_headless_service():
    statefulset = objects("StatefulSet")["nats"]
    spec, conf = statefulset["spec"], nats_conf("nats-kubernetes.conf")
    assert spec["replicas"] == 3
    headless = objects("Service")[spec["serviceName"]]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"]
    assert headless["selector"].items() <= pod_labels(statefulset).items()
    assert sorted(nats_routes(conf)) == [(f"nats-{i}.{spec['serviceName']}", 6222) for i in range(3)]
    nats = container(statefulset)
    assert nats_value(conf, "server_name") == "$POD_NAME"
    pod_name = {e["name"]: e for e in nats["env"]}["POD_NAME"]
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert nats["envFrom"] == [{"secretRef": {"name": "duban-nats"}}]
    mounts = {m["name"]: m["mountPath"] for m in nats["volumeMounts"]}
    (claim,) = spec["volumeClaimTemplates"]
    assert nats_value(conf, "store_dir").startswith(mounts[claim["metadata"]["name"]] + "/")
    assert nats["args"] == ["-c", f"{mounts['config']}/nats.conf"]
    assert nats_value(conf, "pid_file").startswith(mounts["pid"] + "/")
    ports = {p["name"]: p["containerPort"] for p in nats["ports"]}
    assert ports == {"client": 4222, "cluster": 6222, "monitor": int(nats_value(conf, "http_port"))}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert nats[probe]["httpGet"]["path"].startswith("/healthz")


def test_autoscalers_and_disruption_budgets_cover_the_services_and_nats():
    deployments, autoscalers = objects("Deployment"), objects("HorizontalPodAutoscaler")
    assert set(autoscalers) == AUTOSCALED
    for name, hpa in autoscalers.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > 2
        assert "replicas" not in deployments[name]["spec"], "apply would reset the autoscaler's count"
        assert "cpu" in container(deployments[name])["resources"]["requests"]
    assert deployments["scoring"]["spec"]["replicas"] >= 2
    budgets = objects("PodDisruptionBudget")
    for name in [*SERVICES, "console"]:
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels(deployments[name]).items()
    assert budgets["nats"]["spec"]["maxUnavailable"] == 1  # two of three keep the quorum


def _secret_references() -> set[tuple[str, str | None]]:
    found: set[tuple[str, str | None]] = set()

    def walk(node):
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                found.add((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
            if "secretRef" in node:
                found.add((node["secretRef"]["name"], None))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for _, doc in manifests():
        walk(doc)
    return found


def test_secrets_are_referenced_not_written_and_the_readme_lists_them():
    assert not objects("Secret")
    readme = README.read_text()
    references = _secret_references()
    assert {name for name, _ in references} == {"duban-nats", "duban-db", "duban-intake",
                                                "duban-notify", "duban-console"}
    for name, key in references:
        assert f"`{name}`" in readme, name
        if key:
            assert f"`{key}`" in readme, key
    for user in users():  # nats-server reads every user's password from duban-nats
        assert f"`{user.password_variable}`" in readme

