"""The one typed settings object (environment/): defaults, overrides, one-line errors, secrets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import environment
from environment import Settings, SettingsError, settings
from orchestration.errors import error_lines


def test_defaults_from_an_empty_environment():
    values = settings({})
    assert values.env == "local"
    assert values.executor == "local"
    assert values.sql_role == "analyst"
    assert values.aws_region == "us-east-1"
    assert values.ui_url == "http://127.0.0.1:3000"
    assert values.cache_dir == Path.home() / ".cache" / "ndc"
    assert values.warehouse_uri is None and values.today is None and values.pseudonym_key is None


def test_the_process_environment_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NDC_TODAY", "2026-10-01")
    assert settings().today == dt.date(2026, 10, 1)
    monkeypatch.setenv("NDC_TODAY", "2026-10-02")  # set after the first read: obeyed (no cache)
    assert settings().today == dt.date(2026, 10, 2)
    monkeypatch.delenv("NDC_TODAY")
    assert settings().today is None


def test_variables_override_defaults_typed():
    values = settings(
        {
            "NDC_ENV": "production",
            "NDC_EXECUTOR": "k8s",
            "NDC_TODAY": "2026-11-29",
            "NDC_CATALOGUE_DIR": "/etc/ndc/catalogue",
            "NDC_WAREHOUSE_URI": " s3://ndc-raw/prod ",  # stripped
            "AWS_DEFAULT_REGION": "ap-southeast-1",
            "DAGSTER_HOME": "/var/dagster",
        }
    )
    assert values.env == "production" and values.executor == "k8s"
    assert values.today == dt.date(2026, 11, 29)
    assert values.catalogue_dir == Path("/etc/ndc/catalogue")
    assert values.warehouse_uri == "s3://ndc-raw/prod"
    assert values.aws_region == "ap-southeast-1"
    assert values.dagster_home == Path("/var/dagster")


def test_first_alias_found_wins_and_overrides_replace_variables():
    both = {"AWS_ENDPOINT_URL": "http://aws", "AWS_ENDPOINT_URL_S3": "http://s3", "AWS_REGION": "eu-west-1"}
    assert settings(both).s3_endpoint == "http://s3"
    assert settings({**both, "NDC_S3_ENDPOINT": "http://ours"}).s3_endpoint == "http://ours"
    assert settings({**both, "AWS_DEFAULT_REGION": "ap-southeast-1"}).aws_region == "eu-west-1"
    assert settings(both, overrides={"NDC_S3_ENDPOINT": "http://resource"}).s3_endpoint == "http://resource"


def test_blank_is_unset_but_an_empty_cache_dir_turns_the_cache_off():
    values = settings({"NDC_TODAY": "  ", "NDC_ENV": "", "NDC_CACHE_DIR": ""})
    assert values.today is None and values.env == "local"
    assert values.cache_dir is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"NDC_TODAY": "29/11/2026"}, "NDC_TODAY='29/11/2026' is not valid"),
        ({"NDC_ENV": "staging"}, "NDC_ENV='staging' is not one of local, production"),
        ({"NDC_EXECUTOR": "kubernetes"}, "NDC_EXECUTOR='kubernetes' is not one of local, k8s"),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_variable_and_what_to_do(environ, expected):
    with pytest.raises(SettingsError) as refused:
        settings(environ)
    message = str(refused.value)
    assert "\n" not in message
    assert expected in message
    assert "unset it" in message
    # The command line prints it as `error: <line>` (exit 1), not a traceback.
    lines, code = error_lines(refused.value)
    assert lines == [message] and code == 1


def test_secrets_are_never_in_repr_or_error_messages():
    values = settings({"NDC_PSEUDONYM_KEY": "k" * 40, "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"})
    assert "k" * 40 not in repr(values) and "s3cr3t-value" not in repr(values)
    assert "k" * 40 not in str(values.model_dump())
    assert values.pseudonym_key is not None and values.pseudonym_key.get_secret_value() == "k" * 40
    webhook = "https://chat.example.vn/hooks/T0KEN"
    assert "T0KEN" not in repr(settings({"NDC_ALERT_WEBHOOK_URL": webhook}))


def test_the_pseudonym_key_is_kept_byte_for_byte():
    # The key's bytes are the keyed hash's: stripping a space would change every pseudonym.
    assert (
        settings({"NDC_PSEUDONYM_KEY": " key with spaces "}).pseudonym_key.get_secret_value()
        == " key with spaces "
    )


def test_every_variable_is_documented_with_its_name():
    variables = Settings.variables()
    assert {"NDC_WAREHOUSE_URI", "NDC_TODAY", "AWS_SECRET_ACCESS_KEY", "DAGSTER_HOME"} <= set(variables)
    assert all(description for description in variables.values())


def test_a_variable_the_catalogue_names_is_read_as_set():
    assert environment.variable("NDC_BHXH_TOKEN", {"NDC_BHXH_TOKEN": " t "}) == " t "
    assert environment.variable("NDC_UNSET_TOKEN", {}) is None


def test_the_readme_configuration_table_lists_every_variable():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in Settings.variables() if f"`{name}`" not in table]
    assert not missing, f"add to README's Configuration table: {missing}"
