"""The Kubernetes deployment (docker/k8s/) validates with the tools that will read it, offline:

- `values.yaml`, merged over the chart's defaults as Helm merges them, against Dagster's Helm chart's own
  `values.schema.json` (vendored in schemas/dagster-helm/, see its README);
- the instance the chart renders from those values, with Dagster's instance schema, dagster-k8s's
  `K8sRunLauncher` and the run coordinator's config;
- the Job dagster-k8s builds for a GPU run and a CPU run, and every manifest, against Kubernetes' own
  schemas (the `kubernetes-validate` package bundles them).

No cluster is contacted: the launcher is built from a kubeconfig naming an address nothing listens on, and
only its Job-building code runs.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "docker" / "k8s"
CHART = Path(__file__).parent / "schemas" / "dagster-helm"
K8S_VERSION = "1.35"  # the Kubernetes whose schemas validate the manifests, the values and the run Job
RELEASE = "dagster"  # the Helm release name the docs install (the chart's names derive from it)
NAMESPACE = "vlmbench"
SECRETS = {"dagster-postgresql-secret", "vlmbench-chat", "vlmbench-service", "vlmbench-release-repo"}


def helm_merge(defaults: Any, overrides: Any) -> Any:
    """Helm's merge of a values file over the chart's: maps merge, anything else replaces, null deletes."""
    if not (isinstance(defaults, dict) and isinstance(overrides, dict)):
        return copy.deepcopy(overrides)
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(merged.get(key), value)
    return merged


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def our_values() -> dict:
    return load_yaml(K8S / "values.yaml")


def chart_values() -> dict:
    """The values the chart renders with: its defaults, ours merged over them."""
    return helm_merge(load_yaml(CHART / "values.yaml"), our_values())


def kubernetes_definitions() -> dict:
    """Kubernetes' object schemas, their references rewritten to sit under the chart schema's
    `$defs.kubernetes`."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    text = (root / f"v{K8S_VERSION}.0-local" / "_definitions.json").read_text(encoding="utf-8")
    return json.loads(text.replace('"#/$defs/', '"#/$defs/kubernetes/'))["$defs"]


@functools.cache
def chart_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    schema["$defs"].setdefault("kubernetes", kubernetes_definitions())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def chart_errors(values: dict) -> list[str]:
    """What `helm install -f values` would reject: the chart's defaults merged with `values`, checked
    against the chart's schema."""

    def leaves(error: jsonschema.ValidationError):  # an anyOf's error holds each branch's errors
        yield from (leaf for branch in error.context for leaf in leaves(branch)) if error.context else [error]

    merged = helm_merge(load_yaml(CHART / "values.yaml"), values)
    return [
        f"{'.'.join(map(str, leaf.absolute_path))}: {leaf.message}"
        for error in chart_validator().iter_errors(merged)
        for leaf in leaves(error)
    ]


def test_the_values_pass_the_dagster_charts_own_schema() -> None:
    assert chart_errors(our_values()) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda v: v["dagster-user-deployments"]["deployments"][0].update(port="3030"), "deployments.0.port"),
        (lambda v: v["runLauncher"].update(type="K8sLauncher"), "runLauncher.type"),
        (lambda v: v["dagsterDaemon"]["runCoordinator"]["config"].pop("customRunCoordinator"), "runCoordinator"),
        (lambda v: v["runLauncher"]["config"]["k8sRunLauncher"]["volumeMounts"][0].pop("mountPath"), "volumeMounts.0"),
        (lambda v: v["dagsterDaemon"].update(replicas=2), "dagsterDaemon"),
    ],
    ids=["port-as-string", "unknown-launcher", "custom-coordinator-unset", "mount-without-path", "unknown-key"],
)  # fmt: skip
def test_a_broken_values_file_is_rejected(change, where) -> None:
    values = our_values()
    change(values)
    errors = chart_errors(values)
    assert errors and any(where in error for error in errors), errors


def test_webserver_daemon_and_code_server_run_the_project_image_with_its_coordinator() -> None:
    values = our_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    images = {
        values["dagsterWebserver"]["image"]["repository"],
        values["dagsterDaemon"]["image"]["repository"],
    }
    assert images == {deployment["image"]["repository"]}
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "vlm_pipelines.definitions", "-a", "defs"]
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "CustomRunCoordinator"
    custom = coordinator["config"]["customRunCoordinator"]
    assert (custom["module"], custom["class"]) == (
        "vlm_pipelines.deploy.run_coordinator",
        "GpuQueuedRunCoordinator",
    )


def test_the_code_server_reads_split_inference_and_the_shared_folders(monkeypatch) -> None:
    from vlm_pipelines import settings

    (deployment,) = our_values()["dagster-user-deployments"]["deployments"]
    for variable in deployment["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    assert settings.split_inference()  # read by vlm_pipelines/definitions.py when the code server loads
    assert settings.data_dir() == Path("/srv/vlmbench/data")
    assert settings.release_repo() == Path("/srv/vlmbench/data/release-repo.git")
    mounts = {mount["name"]: mount["mountPath"] for mount in deployment["volumeMounts"]}
    claims = {
        volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in deployment["volumes"]
    }
    assert mounts == {"data": "/srv/vlmbench/data", "hf": "/srv/vlmbench/hf"}
    assert claims == {"data": "vlmbench-data", "hf": "vlmbench-hf"}


def rendered_instance(values: dict) -> dict:
    """The dagster.yaml the chart writes into its instance ConfigMap, for the parts these values set
    (helm/dagster/templates/configmap-instance.yaml and helpers/instance/*.tpl)."""
    pg = values["postgresql"]
    storage = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg["postgresqlParams"],
            "scheme": pg["postgresqlScheme"],
        }
    }
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s_config = {
        "container_config": "containerConfig", "pod_spec_config": "podSpecConfig",
        "pod_template_spec_metadata": "podTemplateSpecMetadata", "job_spec_config": "jobSpecConfig",
        "job_metadata": "jobMetadata",
    }  # fmt: skip
    launcher_config = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": RELEASE,
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}]
        + [item["name"] for item in launcher["envConfigMaps"]],
        "env_secrets": [item["name"] for item in launcher["envSecrets"]],
        "env_vars": launcher["envVars"],
        "volume_mounts": launcher["volumeMounts"],
        "volumes": launcher["volumes"],
        "resources": launcher["resources"],
        "run_k8s_config": {
            ours: launcher["runK8sConfig"][theirs] for ours, theirs in run_k8s_config.items()
            if launcher["runK8sConfig"].get(theirs)
        },
    }  # fmt: skip
    custom = values["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    daemon = values["dagsterDaemon"]
    return {
        "storage": {"postgres": storage},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher_config},
        "run_coordinator": {"module": custom["module"], "class": custom["class"], "config": custom["config"]},
        "run_monitoring": {
            "enabled": daemon["runMonitoring"]["enabled"],
            "start_timeout_seconds": daemon["runMonitoring"]["startTimeoutSeconds"],
            "poll_interval_seconds": daemon["runMonitoring"]["pollIntervalSeconds"],
        },
        "run_retries": {"enabled": True, "max_retries": daemon["runRetries"]["maxRetries"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }


def configured(configurable: dict) -> dict:
    """A configurable class's config as the class's own config schema takes it (defaults filled in)."""
    import dagster as dg

    module = __import__(configurable["module"], fromlist=[configurable["class"]])
    result = dg._config.process_config(  # noqa: SLF001
        getattr(module, configurable["class"]).config_type(), configurable["config"]
    )
    assert result.success, result.errors
    return result.value


def test_the_instance_the_chart_renders_loads_with_dagster_and_dagster_k8s(tmp_path, monkeypatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(
        yaml.safe_dump(rendered_instance(chart_values())), encoding="utf-8"
    )
    for name in ("DAGSTER_PG_PASSWORD", "DAGSTER_HOME", "DAGSTER_K8S_INSTANCE_CONFIG_MAP",
                 "DAGSTER_K8S_PG_PASSWORD_SECRET", "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"):  # fmt: skip
        monkeypatch.setenv(name, "set-by-the-chart")
    loaded, _ = dagster_instance_config(str(tmp_path))
    assert loaded["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    launcher = configured(loaded["run_launcher"])
    assert "VLMBENCH_SPLIT_INFERENCE=1" in launcher["env_vars"]
    coordinator = configured(loaded["run_coordinator"])
    assert {"key": "vlmbench/gpu-run", "value": "true", "limit": 8} in coordinator["tag_concurrency_limits"]


def run_job(tags: dict[str, str], tmp_path: Path) -> dict:
    """The Kubernetes Job dagster-k8s builds for a run with `tags`, from the launcher the values configure."""
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job
    from dagster_k8s.launcher import K8sRunLauncher
    from kubernetes.client import ApiClient

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "none",
            "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
            "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
            "users": [{"name": "none", "user": {"token": "unused"}}],
        }),
        encoding="utf-8",
    )  # fmt: skip
    config = {
        **rendered_instance(chart_values())["run_launcher"]["config"],
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": "dagster-postgresql-secret",
        "env_config_maps": [f"{RELEASE}-pipeline-env"],
    }
    launcher = K8sRunLauncher(**config)
    run = DagsterRun(job_name="inference", run_id="0123abcd-0000-4000-8000-000000000000", tags=tags)
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image="registry.example.com/vlmbench:prod", run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0123abcd",
        pod_name="dagster-run-0123abcd",
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": "inference"},
    )  # fmt: skip
    manifest = ApiClient().sanitize_for_serialization(job)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return manifest


def test_a_gpu_runs_job_requests_its_gpus_on_the_shared_folders(tmp_path) -> None:
    from vlm_pipelines.deploy.run_coordinator import placement_tags

    job = run_job(placement_tags(2), tmp_path)  # the tags the coordinator adds to a 2-GPU run
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/srv/vlmbench/data", "/srv/vlmbench/hf", "/dev/shm"} <= mounts
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["VLMBENCH_SPLIT_INFERENCE"] == "1" and env["VLMBENCH_DATA_DIR"] == "/srv/vlmbench/data"
    # the model service's key, for openai-compatible entries (api_key_env: VLMBENCH_SERVICE_API_KEY)
    assert {"secretRef": {"name": "vlmbench-service"}} in container["envFrom"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400


def test_a_cpu_runs_job_asks_for_no_gpu(tmp_path) -> None:
    from vlm_pipelines.deploy.run_coordinator import placement_tags

    job = run_job(placement_tags(0), tmp_path)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "16Gi"}}
    assert not pod.get("tolerations")


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted((K8S / "manifests").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def test_every_manifest_passes_kubernetes_schemas() -> None:
    for name, resource in manifests():
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == NAMESPACE, name
    kustomization = load_yaml(K8S / "manifests" / "kustomization.yaml")
    files = {path.name for path in (K8S / "manifests").glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="8000")),
        ("Deployment", lambda d: d["spec"].update(replicas="1")),
        ("Service", lambda d: d["spec"].update(selctor={})),
        ("CronJob", lambda d: d["spec"]["jobTemplate"]["spec"]["template"]["spec"].pop("containers")),
    ],
    ids=["port-as-string", "replicas-as-string", "misspelt-field", "no-containers"],
)  # fmt: skip
def test_a_broken_manifest_is_rejected(kind, change) -> None:
    resource = copy.deepcopy(next(doc for _, doc in manifests() if doc["kind"] == kind))
    change(resource)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


def pod_specs() -> dict[str, dict]:
    specs = {}
    for _, resource in manifests():
        if resource["kind"] in ("Deployment", "StatefulSet"):
            specs[resource["metadata"]["name"]] = resource["spec"]["template"]
        elif resource["kind"] == "CronJob":
            specs[resource["metadata"]["name"]] = resource["spec"]["jobTemplate"]["spec"]["template"]
    return specs


def test_each_service_reaches_ready_pods_by_a_named_port() -> None:
    templates = pod_specs()
    for _, service in (item for item in manifests() if item[1]["kind"] == "Service"):
        matched = [
            template for template in templates.values()
            if service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        ]  # fmt: skip
        assert len(matched) == 1, service["metadata"]["name"]
        (container,) = matched[0]["spec"]["containers"]
        assert container["readinessProbe"]
        ports = {port["name"] for port in container["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports


def test_the_model_service_holds_one_gpu_and_its_key_comes_from_a_secret() -> None:
    pod = pod_specs()["vlmbench-model-service"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "--api-key" not in container["args"]  # the key stays out of the process list
    (key,) = [item for item in container["env"] if item["name"] == "VLMBENCH_SERVICE_API_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "vlmbench-service", "key": "VLMBENCH_SERVICE_API_KEY"}


def test_every_pod_mounts_the_shared_folders_from_the_read_write_many_claims() -> None:
    claims = {
        resource["metadata"]["name"]: resource["spec"]["accessModes"]
        for _, resource in manifests() if resource["kind"] == "PersistentVolumeClaim"
    }  # fmt: skip
    assert claims == {"vlmbench-data": ["ReadWriteMany"], "vlmbench-hf": ["ReadWriteMany"]}
    values = our_values()
    pods = [template["spec"] for name, template in pod_specs().items() if name != "vlmbench-postgresql"]
    pods += [
        values["dagster-user-deployments"]["deployments"][0],
        values["runLauncher"]["config"]["k8sRunLauncher"],
    ]
    for pod in pods:
        used = {
            volume["persistentVolumeClaim"]["claimName"]
            for volume in pod["volumes"]
            if "persistentVolumeClaim" in volume
        }
        assert used and used <= set(claims)


def test_the_secrets_the_docs_list_are_the_ones_the_pods_read() -> None:
    def secret_names(node: Any) -> set[str]:
        if isinstance(node, dict):
            found = {node["secretKeyRef"]["name"]} if "secretKeyRef" in node else set()
            return found.union(*(secret_names(value) for value in node.values()))
        if isinstance(node, list):
            return set().union(*(secret_names(value) for value in node))
        return set()

    used = secret_names([resource for _, resource in manifests()])
    assert used | {our_values()["global"]["postgresqlSecretName"]} == SECRETS


def test_the_release_tags_clone_is_where_the_sensor_and_the_runs_look() -> None:
    (container,) = pod_specs()["vlmbench-release-repo"]["spec"]["containers"]
    clone = next(item["value"] for item in container["env"] if item["name"] == "REPO")
    values = our_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert {"name": "VLMBENCH_RELEASE_REPO", "value": clone} in deployment["env"]
    assert f"VLMBENCH_RELEASE_REPO={clone}" in values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
