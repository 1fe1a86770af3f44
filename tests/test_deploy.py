"""The Kubernetes deployment in deploy/k8s: valid for Dagster and consistent as manifests.

No cluster is needed. The instance's ``dagster.yaml`` (in its ConfigMap) is loaded as Dagster
loads an instance's file, and each configurable piece (K8sRunLauncher, QueuedRunCoordinator,
PostgreSQL storage) is validated against that class's own config schema, as is the
``k8s_job_executor`` run config. The manifests are checked structurally (kinds, API versions,
required fields, names) and for references: every ConfigMap, Secret, volume, port, service
account and Role a manifest names is defined by another, with the keys Dagster reads. Every
manifest, and the Job that the K8sRunLauncher and the k8s_job_executor would create for a run and
a step, validate strictly (no unknown field) against Kubernetes' own OpenAPI schema for the oldest
and the newest release named in ``K8S_VERSIONS`` (``kubernetes-validate``, offline).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "k8s"
NAMESPACE = "corpusmill"

API_VERSIONS = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "ServiceAccount": "v1", "Deployment": "apps/v1",
    "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
}  # fmt: skip
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Manifests not applied by the kustomization: an example to fill in, and a run config.
NOT_APPLIED = {"secrets.example.yaml", "run-config.yaml", "kustomization.yaml"}
#: The Kubernetes releases the manifests are validated against (the oldest supported, the newest).
K8S_VERSIONS = ("1.31", "1.35")


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        if f.name in {"run-config.yaml", "kustomization.yaml"}:
            continue
        out += [(f.name, d) for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d]
    return out


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _docs() if d["kind"] == kind}


def _instance_yaml() -> dict[str, Any]:
    return yaml.safe_load(_by_kind("ConfigMap")["dagster-instance"]["data"]["dagster.yaml"])


def _schema(klass: Any):
    from dagster._config import convert_potential_field

    return convert_potential_field(klass.config_type()).config_type


def _validate(config_type, value) -> None:
    from dagster._config import validate_config

    res = validate_config(config_type, value)
    assert res.success, [e.message for e in res.errors]


def _pod_specs() -> dict[str, dict[str, Any]]:
    return {n: d["spec"]["template"]["spec"] for n, d in _by_kind("Deployment").items()}


# --- Dagster ---------------------------------------------------------------------------------


def test_the_instance_file_loads_as_dagster_loads_an_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(
        _by_kind("ConfigMap")["dagster-instance"]["data"]["dagster.yaml"], encoding="utf-8"
    )
    for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(var, "x")
    cfg, _custom = dagster_instance_config(str(tmp_path))
    assert cfg["run_launcher"]["class"] == "K8sRunLauncher"
    assert list(cfg["storage"]) == ["postgres"]

    # a misspelt block is refused: the check is not vacuous (the blocks' own settings are
    # checked against their classes in the next test)
    bad = _instance_yaml()
    bad["run_launchr"] = bad.pop("run_launcher")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    from dagster import DagsterInvalidConfigError

    with pytest.raises(DagsterInvalidConfigError, match="run_launchr"):
        dagster_instance_config(str(tmp_path))


def test_each_configurable_piece_validates_against_its_class_schema() -> None:
    inst = _instance_yaml()
    for block in ("run_launcher", "run_coordinator"):
        klass = getattr(importlib.import_module(inst[block]["module"]), inst[block]["class"])
        _validate(_schema(klass), inst[block]["config"])
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage

    assert inst["run_launcher"]["module"] == "dagster_k8s"
    _validate(_schema(DagsterPostgresStorage), inst["storage"]["postgres"])
    for wrong in (dict(inst["run_launcher"]["config"], job_namespce=NAMESPACE),
                  dict(inst["run_launcher"]["config"], load_incluster_config="yes")):
        with pytest.raises(AssertionError, match="job_namespce|load_incluster_config"):
            _validate(_schema(K8sRunLauncher), wrong)  # fmt: skip


def test_the_step_executor_config_validates() -> None:
    from dagster_k8s import k8s_job_executor

    from pipelines.jobs import build_executor

    run_config = yaml.safe_load((K8S / "run-config.yaml").read_text(encoding="utf-8"))
    _validate(k8s_job_executor.config_schema.config_type, run_config["execution"]["config"])
    env = _by_kind("ConfigMap")["corpusmill-env"]["data"]
    assert build_executor(env["CORPUSMILL_EXECUTOR"]) is k8s_job_executor


def test_the_launcher_names_what_the_manifests_define() -> None:
    launcher = _instance_yaml()["run_launcher"]["config"]
    maps, secrets = _by_kind("ConfigMap"), _by_kind("Secret")
    env = maps["corpusmill-env"]["data"]
    assert launcher["job_namespace"] == NAMESPACE
    assert "dagster.yaml" in maps[launcher["instance_config_map"]]["data"]
    # the K8sRunLauncher reads the password from this key into DAGSTER_PG_PASSWORD
    from dagster_k8s.job import DAGSTER_PG_PASSWORD_SECRET_KEY

    assert DAGSTER_PG_PASSWORD_SECRET_KEY in secrets[launcher["postgres_password_secret"]][
        "stringData"
    ]
    assert all(m in maps for m in launcher["env_config_maps"])
    assert all(s in secrets for s in launcher["env_secrets"])
    assert launcher["service_account_name"] in _by_kind("ServiceAccount")
    # the instance file sits at $DAGSTER_HOME in every pod, and DAGSTER_HOME is the home's
    assert launcher["dagster_home"] == env["DAGSTER_HOME"] == env["CORPUSMILL_HOME"] + "/dagster"
    for name, spec in _pod_specs().items():
        mounts = {m["name"]: m for c in spec["containers"] for m in c.get("volumeMounts", [])}
        assert mounts["instance"]["mountPath"] == env["DAGSTER_HOME"] + "/dagster.yaml", name
    vols = {v["name"]: v for v in launcher["volumes"]}
    for m in launcher["volume_mounts"]:
        assert vols[m["name"]]["configMap"]["name"] in maps
        assert m["mount_path"] == str(Path(env["CORPUSMILL_SOURCES"]).parent)


def test_the_lake_and_the_sources_are_on_object_storage() -> None:
    from corpusmill import config

    lake = _by_kind("Secret")["corpusmill-lake"]["stringData"]
    assert lake["CORPUSMILL_LAKE"].startswith("s3://")
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(lake)
    text = _by_kind("ConfigMap")["corpusmill-sources"]["data"]["sources.yaml"]
    cfg = config.SourcesConfig.model_validate(yaml.safe_load(text))
    split = {s.name: s.partition_by for s in cfg.sources}
    assert split["historian"].day and split["press_log"].file_groups == 8


def test_the_code_location_and_the_workspace_agree() -> None:
    deployment = _by_kind("Deployment")["corpusmill-code"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    cmd = container["command"]
    module = cmd[cmd.index("-m") + 1]
    assert hasattr(importlib.import_module(module), "defs")
    port = int(cmd[cmd.index("-p") + 1])
    ws = yaml.safe_load(_by_kind("ConfigMap")["dagster-workspace"]["data"]["workspace.yaml"])
    (entry,) = ws["load_from"]
    service = _by_kind("Service")["corpusmill-code"]
    assert entry["grpc_server"]["host"] == f"corpusmill-code.{NAMESPACE}.svc.cluster.local"
    assert entry["grpc_server"]["port"] == port == service["spec"]["ports"][0]["port"]
    for name in ("dagster-webserver", "dagster-daemon"):
        (c,) = _pod_specs()[name]["containers"]
        ws_path = c["command"][c["command"].index("-w") + 1]
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert str(Path(ws_path).parent) in mounts, name


# --- Kubernetes manifests --------------------------------------------------------------------


def test_every_manifest_has_its_kind_api_version_and_names() -> None:
    seen: set[tuple[str, str]] = set()
    for f, d in _docs():
        kind = d.get("kind")
        assert kind in API_VERSIONS, (f, kind)
        assert d.get("apiVersion") == API_VERSIONS[kind], (f, kind)
        name = d.get("metadata", {}).get("name", "")
        assert DNS_1123.match(name) and len(name) <= 63, (f, name)
        if kind != "Namespace":
            assert d["metadata"].get("namespace") == NAMESPACE, (f, name)
        assert (kind, name) not in seen, (f, kind, name)
        seen.add((kind, name))
        if kind in ("ConfigMap", "Secret"):
            data = d.get("data") or d.get("stringData")
            assert data and all(isinstance(v, str) for v in data.values()), (f, name)
        if kind == "ConfigMap" and name == "corpusmill-env":
            assert all(ENV_NAME.match(k) for k in d["data"]), d["data"]
    assert ("Namespace", NAMESPACE) in seen


def test_deployments_are_complete_and_reference_what_exists() -> None:
    maps, secrets = _by_kind("ConfigMap"), _by_kind("Secret")
    accounts = _by_kind("ServiceAccount")
    for name, d in _by_kind("Deployment").items():
        spec = d["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        pod = spec["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v:
                assert v["configMap"]["name"] in maps, (name, v)
            if "secret" in v:
                assert v["secret"]["secretName"] in secrets, (name, v)
        if "serviceAccountName" in pod:
            assert pod["serviceAccountName"] in accounts, name
        assert pod["containers"], name
        for c in pod["containers"]:
            assert c["name"] and c["image"], name
            assert all(isinstance(a, str) for a in c["command"]), (name, c["command"])
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    assert ref["configMapRef"]["name"] in maps, (name, ref)
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] in secrets, (name, ref)
            for e in c.get("env", []):
                assert ENV_NAME.match(e["name"]), (name, e)
                key = e.get("valueFrom", {}).get("secretKeyRef")
                if key:
                    assert key["key"] in secrets[key["name"]]["stringData"], (name, e)
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes and m["mountPath"].startswith("/"), (name, m)
                sub = m.get("subPath")
                if sub and "configMap" in volumes[m["name"]]:
                    assert sub in maps[volumes[m["name"]]["configMap"]["name"]]["data"]


def test_services_select_one_deployment_and_its_named_ports() -> None:
    deployments = _by_kind("Deployment")
    for name, svc in _by_kind("Service").items():
        sel = svc["spec"]["selector"]
        matched = [d for d in deployments.values()
                   if sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matched) == 1, name
        ports = {p["name"] for c in matched[0]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}  # fmt: skip
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in ports and 0 < p["port"] < 65536, (name, p)


def test_the_run_service_account_may_launch_and_watch_jobs() -> None:
    roles, accounts = _by_kind("Role"), _by_kind("ServiceAccount")
    for name, rb in _by_kind("RoleBinding").items():
        assert rb["roleRef"]["kind"] == "Role" and rb["roleRef"]["name"] in roles, name
        for s in rb["subjects"]:
            assert s["kind"] == "ServiceAccount" and s["name"] in accounts, (name, s)
    rules = roles["corpusmill-runs"]["rules"]

    def allowed(group: str, resource: str, verb: str) -> bool:
        return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   for r in rules)  # fmt: skip

    assert allowed("batch", "jobs", "create") and allowed("batch", "jobs", "watch")
    assert allowed("", "pods", "list") and allowed("", "pods/log", "get")


def test_the_kustomization_applies_every_manifest_and_the_image_builds_from_the_repo() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {f.name for f in K8S.glob("*.yaml")} - NOT_APPLIED
    assert kust["namespace"] == NAMESPACE and sorted(kust["resources"]) == sorted(files)
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), line
    images = {c["image"] for spec in _pod_specs().values() for c in spec["containers"]}
    assert images == {_instance_yaml()["run_launcher"]["config"]["job_image"]}


# --- Kubernetes' own schema -----------------------------------------------------------------


def _k8s_valid(doc: dict[str, Any], what: str) -> None:
    import kubernetes_validate

    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{what} is not a valid {doc['kind']} for Kubernetes {version}: {e}")


def test_every_manifest_validates_against_the_kubernetes_schema() -> None:
    docs = _docs()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "ConfigMap", "Role"}
    for name, doc in docs:
        _k8s_valid(doc, f"{name}: {doc['kind']} {doc['metadata']['name']}")


def _job(component: str, user_config: dict[str, Any]) -> dict[str, Any]:
    """The Job dagster-k8s builds for a run (or a step) from the instance's launcher config."""
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
    )
    from kubernetes.client import ApiClient

    launcher = _instance_yaml()["run_launcher"]["config"]
    fields = {k: v for k, v in launcher.items() if k in DagsterK8sJobConfig._fields}
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(**fields),
        ["dagster", "api", "execute_run", "{}"],
        "dagster-run-0123abcd",
        user_defined_k8s_config=UserDefinedDagsterK8sConfig.from_dict(user_config),
        pod_name="dagster-run-0123abcd",
        component=component,
        labels={"dagster/job": "all_assets", "dagster/run-id": "0123abcd"},
    )
    return {"apiVersion": "batch/v1", "kind": "Job", **ApiClient().sanitize_for_serialization(job)}


def test_the_jobs_dagster_creates_for_runs_and_steps_validate() -> None:
    launcher = _instance_yaml()["run_launcher"]["config"]
    run = _job("run_worker", launcher["run_k8s_config"])
    _k8s_valid(run, "the run worker Job")
    spec = run["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == launcher["service_account_name"]
    (container,) = spec["containers"]
    assert container["resources"] == launcher["run_k8s_config"]["container_config"]["resources"]
    assert {"configMapRef": {"name": "corpusmill-env"}} in container["envFrom"]
    run_config = yaml.safe_load((K8S / "run-config.yaml").read_text(encoding="utf-8"))
    step_config = run_config["execution"]["config"]["step_k8s_config"]
    step = _job("step_worker", step_config)
    _k8s_valid(step, "a step worker Job")
    (container,) = step["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == step_config["container_config"]["resources"]
