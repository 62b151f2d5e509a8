"""Which executor runs nightly_sync's steps, switched by the environment in this one place.

On a machine (`ndc demo`, `dagster dev`, deploy/dagster.yaml on a VM) the steps run as processes
of the run worker: the local executor that definitions.py chooses. On Kubernetes
(NDC_EXECUTOR=k8s, set by deploy/helm/values.yaml on the code location and so on every run pod)
each step — one table's load, or a gold asset — is a Kubernetes Job of its own (dagster-k8s's
`k8s_job_executor`), sized below; the source pools still bound how many loads read one ministry.

definitions.py uses it as `define_asset_job(..., executor_def=executor_for(local=<its executor>))`,
its local executor being `forkserver_executor(...)` below: steps in processes forked from a
preloaded server, except that a run of one step (`ndc sync --table X`, a single table's full
refresh) runs it in the run worker itself, which has already imported and built everything a step
needs: starting a process for it (a forkserver that imports the stack again, then the fork, then
the Definitions built again) is most of a one-table run's bookkeeping (issue 9).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, get_args

import dagster as dg

from environment import Settings
from environment import settings as current_settings

if TYPE_CHECKING:
    from dagster._core.events import DagsterEvent
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan

EXECUTOR_ENV = "NDC_EXECUTOR"
EXECUTORS = get_args(Settings.model_fields["executor"].annotation)  # ("local", "k8s")

# Steps in flight per run across all step pods (each source pool still allows 2 at a time).
K8S_MAX_CONCURRENT_STEPS = 8

# A step pod holds one table's load. Sized from the README's bench (bench/bench_sync.py --rows
# 4000000, the 4M-row welfare payments table): peak 1,525 MiB (a night with reconcile; 1,452 MiB
# for the first load) and CPU seconds ≈ wall seconds (one core busy). Request what a load needs,
# and a memory limit with room above the measured peak, so a runaway load is killed alone.
STEP_RESOURCES = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "2", "memory": "3Gi"},
}

K8S_EXECUTOR_CONFIG = {
    "max_concurrent": K8S_MAX_CONCURRENT_STEPS,
    "step_k8s_config": {"container_config": {"resources": STEP_RESOURCES}},
}


class OneStepInProcess:
    """Dagster's multiprocess executor, but a plan of a single step runs in the run worker.

    The in-process executor claims the same pool slots (InstanceConcurrencyContext) and honours
    the same retry policy; only the process boundary between the run worker and its one step goes.
    """

    def __init__(self, multiprocess, in_process) -> None:
        self._multiprocess = multiprocess
        self._in_process = in_process

    @property
    def retries(self):
        return self._multiprocess.retries

    @property
    def step_dependency_config(self):
        return self._multiprocess.step_dependency_config

    def chosen(self, execution_plan: ExecutionPlan):
        steps = execution_plan.step_keys_to_execute
        return self._in_process if len(steps) == 1 else self._multiprocess

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        return self.chosen(execution_plan).execute(plan_context, execution_plan)


def forkserver_executor(preload_modules: Sequence[str], *, name: str = "multiprocess_forkserver") -> dg.ExecutorDefinition:
    """Steps in processes forked from a server that preloaded `preload_modules`; one step in process."""
    from dagster._core.definitions.executor_definition import (
        _core_in_process_executor_creation,
        _core_multiprocess_executor_creation,
        multiple_process_executor_requirements,
    )
    from dagster._core.executor.base import Executor

    class _Executor(OneStepInProcess, Executor):
        pass

    retries = {"enabled": {}}  # Dagster's default: the assets' retry policies apply

    @dg.executor(name=name, requirements=multiple_process_executor_requirements())
    def executor(_init_context) -> Executor:
        return _Executor(
            _core_multiprocess_executor_creation(
                {"start_method": {"forkserver": {"preload_modules": list(preload_modules)}}, "retries": retries}
            ),
            _core_in_process_executor_creation({"retries": retries}),
        )

    return executor


def executor_kind() -> str:
    """NDC_EXECUTOR; a value not in EXECUTORS is a SettingsError (a ValueError) naming the choices."""
    return current_settings().executor


def executor_for(local: dg.ExecutorDefinition | None = None) -> dg.ExecutorDefinition:
    """The executor of this environment: `local` (default: Dagster's multiprocess) or one pod per step."""
    if executor_kind() == "k8s":
        # Imported only here: the Kubernetes client is needed on a cluster, not for a local run.
        from dagster_k8s import k8s_job_executor

        # The image, secrets and env of the step pods are the run pod's (from the K8sRunLauncher
        # and the code location): only the step's own size and the step limit are set here.
        return k8s_job_executor.configured(K8S_EXECUTOR_CONFIG, name="k8s_job_executor_ndc")
    return local if local is not None else dg.multiprocess_executor
