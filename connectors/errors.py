"""Errors that name the source and say what to do; the pipeline shows them as they are."""

from __future__ import annotations


class SourceError(RuntimeError):
    """A source could not be read. `retryable` says whether trying again later may help."""

    retryable = False

    def __init__(self, source: str, problem: str, hint: str) -> None:
        self.source = source
        self.problem = problem
        self.hint = hint
        super().__init__(f"source '{source}': {problem}. {hint}")


class SourceUnreachable(SourceError):
    """Network trouble, a timeout, a server restarting: worth a retry with backoff."""

    retryable = True


class SourceAuthError(SourceError):
    """Wrong credentials or missing privileges: retrying only locks the account."""


class SourceSchemaError(SourceError):
    """A table, column or file the catalogue names is not there, or has another shape."""
