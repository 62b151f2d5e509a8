"""How a run of nightly_sync is asked for: which days, and whether loads read everything."""

from assets.partitions import DAILY, range_tags
from catalogue import load_catalogue


def latest_partition_tags() -> dict[str, str]:
    last = DAILY.get_last_partition_key()
    return range_tags(last, last)


def full_refresh_config(tables: list[str] | None = None) -> dict:
    """Every chosen load reads its whole source (the demo's first load; repeating it is idempotent)."""
    refs = [r for r in load_catalogue().tables if tables is None or r.key in tables]
    return {"ops": {f"load_{r.domain}__{r.table.name}": {"config": {"full_refresh": True}} for r in refs}}
