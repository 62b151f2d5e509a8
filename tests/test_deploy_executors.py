"""orchestration/executors.py: the executor follows NDC_EXECUTOR; on Kubernetes one pod per step."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.executors import K8S_EXECUTOR_CONFIG, STEP_RESOURCES, executor_for
from tests.fixtures.environment import environment


@dg.asset
def probe_asset() -> int:
    return 1


def job_with(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    job = dg.define_asset_job("probe_job", executor_def=executor)
    return dg.Definitions(assets=[probe_asset], jobs=[job]).resolve_job_def("probe_job")


def test_locally_the_executor_definitions_py_chooses():
    mine = dg.in_process_executor
    with environment({"NDC_EXECUTOR": None}):
        assert executor_for(mine) is mine
        assert executor_for() is dg.multiprocess_executor
    with environment({"NDC_EXECUTOR": "local"}):
        assert executor_for(mine) is mine


def test_on_kubernetes_each_step_is_a_k8s_job_sized_from_the_bench():
    with environment({"NDC_EXECUTOR": "k8s"}):
        executor = executor_for(dg.in_process_executor)
    assert executor.name == "k8s_job_executor_ndc"
    job = job_with(executor)  # the job builds with it: its config is valid for k8s_job_executor
    assert job.executor_def is executor
    # The settings are valid for dagster-k8s's own schema of the executor.
    from dagster._config import validate_config
    from dagster_k8s import k8s_job_executor

    checked = validate_config(k8s_job_executor.config_schema.config_type, K8S_EXECUTOR_CONFIG)
    assert checked.success, checked.errors
    assert not validate_config(k8s_job_executor.config_schema.config_type, {"max_concurrent": "x"}).success
    assert K8S_EXECUTOR_CONFIG["step_k8s_config"]["container_config"]["resources"] == STEP_RESOURCES
    memory = STEP_RESOURCES["limits"]["memory"]
    assert memory.endswith("Gi") and int(memory[:-2]) * 1024 > 1_525  # above the bench's 4M-row peak


def test_a_wrong_executor_name_is_one_clear_error():
    with environment({"NDC_EXECUTOR": "kubernetes"}), pytest.raises(ValueError, match=r"NDC_EXECUTOR='kubernetes'.*local, k8s"):
        executor_for()
