"""Resources, switched by environment in this one place.

`local` (the default, and `ndc demo`): the warehouse in a folder inside the project, or on a
development S3 server when NDC_WAREHOUSE_URI says s3://; variables that are set are read as
`dg.EnvVar`s, unset ones keep local defaults. `production` (NDC_ENV=production): every setting and
secret is required from the environment. Either way secrets are resolved by Dagster at run time
and never shown in the UI or baked into the definitions.
"""

import os

import dagster as dg

from assets.resources import PseudonymKeyResource, WarehouseResource

DEMO_PSEUDONYM_KEY = "ndc-demo-key-not-for-production"
ENVIRONMENTS = ("local", "production")


def environment() -> str:
    return os.environ.get("NDC_ENV", "local")


def resources_for(env: str) -> dict[str, dg.ConfigurableResource]:
    if env not in ENVIRONMENTS:
        raise ValueError(f"NDC_ENV={env!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}")
    if env == "local":
        # A laptop needs no setup: a demo key where none is given (never in production).
        os.environ.setdefault("NDC_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY)
    return {
        "warehouse": WarehouseResource.from_env_vars(required=env == "production"),
        "pseudonym_key": PseudonymKeyResource(key=dg.EnvVar("NDC_PSEUDONYM_KEY")),
    }
