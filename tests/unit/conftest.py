"""Ledger URLs for tests: a fresh SQLite file, or a fresh database on a throwaway PostgreSQL server
(one server per test process, started on first use; skipped with the reason when Debian's server
binaries are not installed — scripts/ensure-postgres.sh installs them)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from .pg_cluster import INSTALL_HINT, postgres_cluster, server_bin

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of this test process's PostgreSQL server (database ``postgres``)."""
    if server_bin() is None:
        pytest.skip(INSTALL_HINT)
    with postgres_cluster() as url:
        yield url


def fresh_postgres_database(server_url: str) -> str:
    """A new, empty database on the server, by URL."""
    import psycopg

    name = f"ledger_{next(_databases)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty ledger, once per back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))
