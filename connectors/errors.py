"""Errors that name the source and say what to do; the pipeline shows them as they are.

No message may carry a secret: URLs are shown through `redact_url`, and server messages pass
through `redact` with the secrets the connector knows before they are wrapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote


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


class SourceTimeout(SourceUnreachable):
    """The source cut a query off at its time limit (a busy server; retry later or raise the limit)."""


class SourceAuthError(SourceError):
    """Wrong credentials or missing privileges: retrying only locks the account."""


class SourceSchemaError(SourceError):
    """A table, column or file the catalogue names is not there, or has another shape."""


class MalformedFile(SourceError):
    """One dropped file cannot be parsed: the pipeline quarantines the file whole and goes on."""

    def __init__(self, source: str, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(
            source, f"file '{file}' is malformed: {reason}",
            "Quarantine the file and ask the ministry to re-send it; the other files are unaffected.",
        )


# The password runs to the last '@' of the URL: an unencoded '@' or '/' inside it stays hidden too
# (hiding a little too much of a malformed URL is better than showing a password).
_USERINFO_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*:)\S*@")


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***` (user, host, port and database kept)."""
    return _USERINFO_PASSWORD.sub(lambda match: match.group("head") + "***@", url)


def url_password(url: str) -> str:
    """The password of a URL as written (percent-encoding kept), '' when it has none.

    Read by hand, not with urlsplit: a password holding an unencoded '/' would end urlsplit's
    netloc early and come back cut, leaving the rest of it in every message.
    """
    _, scheme_separator, rest = url.partition("://")
    words = rest.split()
    userinfo, at, _ = words[0].rpartition("@") if words else ("", "", "")
    if not scheme_separator or not at or ":" not in userinfo:
        return ""
    return userinfo.split(":", 1)[1]


def url_secrets(url: str) -> tuple[str, ...]:
    """The password of a URL as written and as decoded, for scrubbing server messages."""
    password = url_password(url)
    return tuple({password, unquote(password)}) if password else ()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every URL password and every given secret replaced by `***`."""
    cleaned = text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            cleaned = cleaned.replace(secret, "***")
    return redact_url(cleaned)
