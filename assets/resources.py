"""The resources assets ask for: where the warehouse is, and the pseudonym key.

Which values they get (local defaults, development S3, production secrets) is decided in one
place, `orchestration.resources`.
"""

from typing import Self

import dagster as dg

import environment
from pipeline.gold import pseudonym_key
from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

# Resource field → the environment variable it reads.
STORAGE_ENV = {
    "warehouse_uri": "NDC_WAREHOUSE_URI",
    "gold_uri": "NDC_GOLD_URI",
    "s3_endpoint": "NDC_S3_ENDPOINT",
    "aws_region": "AWS_REGION",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
}


class WarehouseResource(dg.ConfigurableResource):
    """Where the Delta tables live; empty fields fall back to the environment's defaults."""

    warehouse_uri: str = ""
    gold_uri: str = ""
    s3_endpoint: str = ""
    aws_region: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""

    @classmethod
    def from_env_vars(cls, *, required: bool = False) -> Self:
        """Fields as `dg.EnvVar`s, resolved at run time and never shown in the UI: all of them
        when `required`, else those set when the definitions load (the rest keep local defaults)."""
        return cls(
            **{f: dg.EnvVar(env) for f, env in STORAGE_ENV.items() if required or environment.variable(env)}
        )

    def settings(self) -> StorageSettings:
        """The environment's storage settings, with this resource's non-empty fields instead."""
        overrides = {env: value for field, env in STORAGE_ENV.items() if (value := getattr(self, field))}
        return StorageSettings.from_settings(environment.settings(overrides=overrides))

    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings())


class PseudonymKeyResource(dg.ConfigurableResource):
    """The key of the keyed hash that turns personal IDs into gold pseudonyms (kept outside the data).

    Empty means none was given: only the demo's own warehouse may then build gold (with the demo key).
    """

    key: str = ""

    def key_bytes_for(self, warehouse_uri: str) -> bytes:
        """The key, checked against the policy for this warehouse (PseudonymKeyError otherwise).

        An empty `key` is read from NDC_PSEUDONYM_KEY now, when gold is built, not when the
        definitions were imported: a key exported after `dagster dev` or a test session started counts.
        """
        configured = environment.settings().pseudonym_key
        return pseudonym_key(self.key or (configured.get_secret_value() if configured else ""), warehouse_uri)
