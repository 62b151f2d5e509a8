"""deploy/helm/values.yaml for Dagster's Helm chart: it parses, has what the deployment needs, says
the same as deploy/dagster.yaml, and holds no secret.

The chart's own values.schema.json is not reachable offline (the chart is published on Dagster's
Helm repository, not on PyPI or Debian), so the keys are checked here against what the chart's
templates read (runLauncher.config.k8sRunLauncher, dagsterDaemon.runCoordinator, concurrency, ...).
"""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SECRET = "ndc-secrets"


def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def instance() -> dict:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def test_the_code_location_is_this_projects_definitions():
    workspace = yaml.safe_load((DEPLOY.parent / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    users = values()["dagster-user-deployments"]
    assert users["enabled"] is True
    (deployment,) = users["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == workspace["module_name"]
    assert args[args.index("--attribute") + 1] == workspace["attribute"]
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert deployment["env"]["NDC_EXECUTOR"] == "k8s"  # orchestration/executors.py: a pod per step
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True


def test_one_pod_per_run_and_secrets_as_environment_variables():
    config = values()
    assert config["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = config["runLauncher"]["config"]["k8sRunLauncher"]
    for holder in (launcher, config["dagster-user-deployments"]["deployments"][0],
                   config["dagsterDaemon"], config["dagsterWebserver"]):
        assert {"name": SECRET} in holder["envSecrets"]
    run_pod = launcher["runK8sConfig"]["containerConfig"]["resources"]
    assert run_pod["requests"]["cpu"] and run_pod["limits"]["memory"]


def test_postgresql_from_a_secret_never_a_literal_password():
    config = values()
    assert config["global"]["postgresqlSecretName"]
    assert config["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in config["postgresql"]
    text = (DEPLOY / "helm" / "values.yaml").read_text()

    def scalars(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from scalars(value, (*path, str(key)))
        elif isinstance(node, list):
            for item in node:
                yield from scalars(item, path)
        else:
            yield path, node

    for path, value in scalars(yaml.safe_load(text)):
        leaf = path[-1].lower()
        if isinstance(value, str) and any(word in leaf for word in ("password", "secretkey", "secret_access", "token")):
            assert leaf.endswith("secretname"), f"{'.'.join(path)} holds a literal secret: {value!r}"


def test_the_same_instance_settings_as_deploy_dagster_yaml():
    config, yml = values(), instance()
    daemon = config["dagsterDaemon"]
    assert daemon["runCoordinator"] == {"enabled": True, "type": "QueuedRunCoordinator"}
    assert config["concurrency"]["pools"]["defaultLimit"] == yml["concurrency"]["pools"]["default_limit"]
    runs = config["concurrency"]["runs"]
    assert runs["maxConcurrentRuns"] == yml["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == yml["concurrency"]["runs"]["tag_concurrency_limits"]
    retries = daemon["runRetries"]
    assert retries["enabled"] is yml["run_retries"]["enabled"] is True
    assert retries["maxRetries"] == yml["run_retries"]["max_retries"]
    assert retries["retryOnAssetOrOpFailure"] == yml["run_retries"]["retry_on_asset_or_op_failure"]
    assert daemon["runMonitoring"]["enabled"] is True
    logs = config["computeLogManager"]
    assert logs["type"] == yml["compute_logs"]["class"] == "S3ComputeLogManager"
    s3 = logs["config"]["s3ComputeLogManager"]
    assert s3["bucket"] == yml["compute_logs"]["config"]["bucket"]
    assert s3["endpointUrl"] == yml["compute_logs"]["config"]["endpoint_url"]
    assert config["telemetry"] == {"enabled": False}
