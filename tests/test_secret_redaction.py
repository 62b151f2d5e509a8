"""A password is never shown, even one written into a URL without percent-encoding (issue 11, defect 7)."""

import pytest

from connectors import open_connector
from connectors.errors import SourceError, redact, redact_url, url_password, url_secrets

UNENCODED = "Ab/Cd@Ef?9"  # '/', '@' and '?' as a user might paste them into NDC_*_URL


@pytest.mark.parametrize(
    ("url", "password"),
    [
        (f"postgresql://ndc_reader:{UNENCODED}@127.0.0.1:5432/ndc", UNENCODED),
        ("mysql://u:p%2Fq@db:3306/x", "p%2Fq"),
        ("postgresql://u@db/x", ""),
        ("sqlite:///tmp/a.db", ""),
    ],
)
def test_the_password_is_read_whole_even_unencoded(url: str, password: str) -> None:
    assert url_password(url) == password


def test_an_unencoded_password_is_hidden_in_urls_and_messages() -> None:
    url = f"postgresql://ndc_reader:{UNENCODED}@127.0.0.1:5432/ndc"
    assert redact_url(url) == "postgresql://ndc_reader:***@127.0.0.1:5432/ndc"
    message = redact(f"connection to {url} failed: password {UNENCODED} refused", url_secrets(url))
    for fragment in ("Ab/Cd", "Ef?9", "Cd@Ef"):
        assert fragment not in message


@pytest.mark.slow
def test_a_source_url_with_an_unencoded_password_fails_in_one_line_without_it(postgres_server) -> None:
    url = postgres_server.url_for("placeholder").replace("placeholder", UNENCODED)
    connector = open_connector("bo_cong_an", "sql", {"url": url})
    with pytest.raises(SourceError, match="bo_cong_an") as caught:
        connector.check()
    message = str(caught.value)
    assert "\n" not in message and "%2F" in message  # says how to encode it
    assert not caught.value.retryable
    for fragment in ("Ab/Cd", "Ef?9", "Cd@Ef"):
        assert fragment not in message
