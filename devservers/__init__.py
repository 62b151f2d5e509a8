"""Local servers for development, the demo and the tests: PostgreSQL, MariaDB and SeaweedFS (S3).

Not pipeline code: only demo/, orchestration/ (`ndc demo --backend`, `ndc storage`), tests/ and
bench/ import it (an import-linter contract in pyproject.toml holds that).
"""
