"""The SQL connector against a real MariaDB server (started by tests/fixtures/servers.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.servers import DatabaseServer
from tests.test_connectors_sql import SqlServerCases

pytestmark = pytest.mark.slow


class TestMariaDB(SqlServerCases):
    kind = "mariadb"

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, mariadb_server: DatabaseServer) -> DatabaseServer:
        return mariadb_server
