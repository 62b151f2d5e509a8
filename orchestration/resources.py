"""Resources, switched by environment in this one place.

`local` (the default, and `ndc demo`): the warehouse in a folder inside the project, or on a
development S3 server when NDC_WAREHOUSE_URI says s3://. `production`: every setting and secret
is required from the environment (NDC_ENV=production), resolved by Dagster at run time and
never shown in the UI.
"""

from __future__ import annotations

import os

import dagster as dg

from warehouse.storage import StorageSettings
from warehouse.tables import Warehouse

DEMO_PSEUDONYM_KEY = "ndc-demo-key-not-for-production"


class WarehouseResource(dg.ConfigurableResource):
    """Where the Delta tables live; empty fields fall back to the environment's defaults."""

    warehouse_uri: str = ""
    gold_uri: str = ""
    s3_endpoint: str = ""
    aws_region: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""

    def settings(self) -> StorageSettings:
        overrides = {
            "NDC_WAREHOUSE_URI": self.warehouse_uri,
            "NDC_GOLD_URI": self.gold_uri,
            "NDC_S3_ENDPOINT": self.s3_endpoint,
            "AWS_REGION": self.aws_region,
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
        }
        return StorageSettings.from_env({**os.environ, **{k: v for k, v in overrides.items() if v}})

    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings())


class PseudonymKeyResource(dg.ConfigurableResource):
    """The key of the keyed hash that turns personal IDs into gold pseudonyms (kept outside the data)."""

    key: str

    def key_bytes(self) -> bytes:
        return self.key.encode()


def environment() -> str:
    return os.environ.get("NDC_ENV", "local")


def resources_for(env: str) -> dict[str, dg.ConfigurableResource]:
    if env == "production":
        return {
            "warehouse": WarehouseResource(
                warehouse_uri=dg.EnvVar("NDC_WAREHOUSE_URI"),
                gold_uri=dg.EnvVar("NDC_GOLD_URI"),
                s3_endpoint=dg.EnvVar("NDC_S3_ENDPOINT"),
                aws_region=dg.EnvVar("AWS_REGION"),
                aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
            ),
            "pseudonym_key": PseudonymKeyResource(key=dg.EnvVar("NDC_PSEUDONYM_KEY")),
        }
    if env == "local":
        # Local runs read the same variables when set (StorageSettings.from_env); the key too,
        # with a demo key only where none is given, so a laptop needs no setup.
        os.environ.setdefault("NDC_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY)
        return {
            "warehouse": WarehouseResource(),
            "pseudonym_key": PseudonymKeyResource(key=dg.EnvVar("NDC_PSEUDONYM_KEY")),
        }
    raise ValueError(f"NDC_ENV={env!r} is not an environment; use 'local' or 'production'")
