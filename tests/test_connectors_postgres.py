"""The SQL connector against a real PostgreSQL server (started by tests/fixtures/servers.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.servers import DatabaseServer, postgres_server
from tests.test_connectors_sql import SqlServerCases

__all__ = ["postgres_server"]

pytestmark = pytest.mark.slow


class TestPostgres(SqlServerCases):
    kind = "postgres"

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, postgres_server: DatabaseServer) -> DatabaseServer:
        return postgres_server
