"""Which errors are a user's mistake (one line) and which are bugs (a traceback), and what a
failed step's event says in one line."""

from __future__ import annotations

import click
import pytest
from dagster._core.execution.plan.objects import StepFailureData, UserFailureData
from dagster._utils.error import SerializableErrorInfo

from catalogue.loader import CatalogueError
from connectors.errors import SourceSchemaError
from orchestration.errors import FAILURE_EXIT, USAGE_EXIT, RunFailed, error_lines
from orchestration.runs import step_failure_message, step_subject
from warehouse.store_errors import StorageCredentialsError


def test_step_keys_of_loads_read_as_the_table_the_user_typed():
    assert step_subject("load_population__citizens") == "population.citizens"
    assert step_subject("load_social_insurance__contribution_periods") == (
        "social_insurance.contribution_periods"
    )
    assert step_subject("gold__people__citizen_360") == "gold__people__citizen_360"


def test_a_failure_step_says_the_pipelines_own_sentence():
    sentence = "source 'population': a table is missing (no such table: cong_dan). Check the catalogue."
    wrapped = SerializableErrorInfo(
        message=f"dagster._core.definitions.events.Failure: {sentence}\n", stack=[], cls_name="Failure"
    )
    assert (
        step_failure_message(StepFailureData(wrapped, UserFailureData("intentional-failure", sentence)))
        == sentence
    )
    assert step_failure_message(StepFailureData(wrapped, None)) == sentence


def test_an_unexpected_error_keeps_its_class_and_points_at_debug():
    bug = SerializableErrorInfo(message="KeyError: 'ward'\n", stack=["..."], cls_name="KeyError")
    outer = SerializableErrorInfo(
        message="Error occurred while executing step\n",
        stack=[],
        cls_name="DagsterExecutionStepExecutionError",
        cause=bug,
    )
    message = step_failure_message(StepFailureData(outer, None))
    assert message.startswith("KeyError: 'ward'") and "ndc --debug" in message


def test_a_source_still_down_after_the_retries_says_its_own_sentence():
    """A retryable source error that outlived the retry policy is a known mistake, not a bug."""
    sentence = "source 'welfare': cannot connect to 127.0.0.1:5 (Connection refused). Check that the server is up."
    down = SerializableErrorInfo(
        message=f"connectors.errors.SourceUnreachable: {sentence}\n", stack=["..."], cls_name="SourceUnreachable"
    )
    outer = SerializableErrorInfo(
        message="Error occurred while executing step\n", stack=[], cls_name="DagsterExecutionStepExecutionError",
        cause=down,
    )
    assert step_failure_message(StepFailureData(outer, None)) == sentence


@pytest.mark.parametrize(
    ("error", "lines", "code"),
    [
        (
            CatalogueError(["a.yml: first problem", "b.yml: second\n  problem"]),
            ["a.yml: first problem", "b.yml: second problem"],
            FAILURE_EXIT,
        ),
        (
            StorageCredentialsError("check AWS_SECRET_ACCESS_KEY"),
            ["check AWS_SECRET_ACCESS_KEY"],
            FAILURE_EXIT,
        ),
        (
            SourceSchemaError("population", "no such table: cong_dan", "Check the catalogue."),
            ["source 'population': no such table: cong_dan. Check the catalogue."],
            FAILURE_EXIT,
        ),
        (RunFailed(["population.citizens: gone"]), ["population.citizens: gone"], FAILURE_EXIT),
        (
            click.BadParameter("not a day", param_hint="'--since'"),
            ["ndc: Invalid value for '--since': not a day (see `ndc --help`)"],
            USAGE_EXIT,
        ),
    ],
)
def test_known_mistakes_become_lines_with_an_exit_code(error, lines, code):
    assert error_lines(error) == (lines, code)


@pytest.mark.parametrize("error", [KeyError("x"), ValueError("bug"), OSError("disk on fire")])
def test_anything_else_is_a_bug_and_keeps_its_traceback(error, monkeypatch):
    monkeypatch.setenv("NDC_WAREHOUSE_URI", "/tmp/local-warehouse")
    assert error_lines(error) is None
