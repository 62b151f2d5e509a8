"""Resources, switched by environment in this one place.

`local` (the default, and `ndc demo`): the warehouse in a folder inside the project, or on a
development S3 server when NDC_WAREHOUSE_URI says s3://; variables that are set are read as
`dg.EnvVar`s, unset ones keep local defaults. `production` (NDC_ENV=production): every setting and
secret is required from the environment. Either way secrets are resolved by Dagster at run time
and never shown in the UI or baked into the definitions.
"""

import dagster as dg

from assets.resources import PseudonymKeyResource, WarehouseResource
from environment import settings as current_settings
from pipeline.gold import DEMO_PSEUDONYM_KEY, KEY_ENV

__all__ = ["DEMO_PSEUDONYM_KEY", "ENVIRONMENTS", "environment", "resources_for"]
ENVIRONMENTS = ("local", "production")


def environment() -> str:
    """NDC_ENV: `local` (the default) or `production`; another value is a SettingsError naming both."""
    return current_settings().env


def resources_for(env: str) -> dict[str, dg.ConfigurableResource]:
    if env not in ENVIRONMENTS:
        raise ValueError(f"NDC_ENV={env!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}")
    # Production requires the key (Dagster names the variable when it is missing). Locally an
    # unset key stays empty: the gold asset then applies the key policy, which allows the demo
    # key only in the demo's own warehouse (pipeline.gold.pseudonym_key), never on S3.
    key = dg.EnvVar(KEY_ENV) if env == "production" or current_settings().pseudonym_key else ""
    return {
        "warehouse": WarehouseResource.from_env_vars(required=env == "production"),
        "pseudonym_key": PseudonymKeyResource(key=key),
    }
