"""The one place that turns a known mistake into `error: <one line>` for the command line.

A known error is one the user can fix without reading code: a command-line typo, the catalogue,
a suite, an environment variable's value, the storage settings, a source, a failed run (its
steps' own sentences). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno

import click

USAGE_EXIT = 2  # click's code for a command-line mistake
FAILURE_EXIT = 1


class RunFailed(RuntimeError):
    """A run of a job failed; `lines` says why, one line per failed step."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def explain_storage_message(message: str) -> str | None:
    """The storage setting behind an object-store message, when the warehouse is on S3."""
    from warehouse.s3 import storage_error_from_message
    from warehouse.storage import StorageSettings

    try:
        settings = StorageSettings.from_env()
    except ValueError:
        return None
    found = storage_error_from_message(message, settings)
    return str(found) if found is not None else None


def usage_line(error: click.UsageError) -> str:
    command = error.ctx.command_path if error.ctx is not None else "ndc"
    return f"{command}: {one_line(error.format_message())} (see `{command} --help`)"


def error_lines(error: BaseException) -> tuple[list[str], int] | None:
    """The lines to print and the exit code for a known error; None for anything else (a bug)."""
    if isinstance(error, click.UsageError):
        return [usage_line(error)], error.exit_code
    if isinstance(error, click.ClickException):
        return [one_line(error.format_message())], error.exit_code
    if isinstance(error, RunFailed):
        return error.lines, FAILURE_EXIT
    # Imported here: `ndc --help` must not wait for the pipeline's modules.
    from catalogue.loader import CatalogueError
    from connectors.errors import SourceError
    from environment import SettingsError
    from quality.compile import SuiteCompileError
    from quality.suites import SuiteError
    from warehouse.sql import SqlError
    from warehouse.store_errors import StorageError

    if isinstance(error, CatalogueError):
        return [one_line(problem) for problem in error.problems], FAILURE_EXIT
    if isinstance(
        error, SuiteError | SuiteCompileError | StorageError | SourceError | SqlError | SettingsError
    ):
        return [one_line(error)], FAILURE_EXIT
    # deltalake / Polars report S3 trouble as OSError("Generic S3 error: …").
    if (
        isinstance(error, OSError)
        and error.errno != errno.EPIPE
        and (explained := explain_storage_message(str(error))) is not None
    ):
        return [explained], FAILURE_EXIT
    return None
