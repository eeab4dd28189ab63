"""The private PostgreSQL server the tests, benchmarks and scenarios start for themselves."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest

from cloud.storage.throwaway_postgres import ThrowawayPostgres


def test_each_test_gets_its_own_empty_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_the_server_listens_on_a_unix_socket_only(postgres_server: ThrowawayPostgres) -> None:
    assert postgres_server.psql("SHOW listen_addresses") == ""
    sockets = [p for p in postgres_server.socket_dir.iterdir() if stat.S_ISSOCK(p.stat().st_mode)]
    assert [p.name for p in sockets] == [".s.PGSQL.5432"]


def test_stopping_removes_the_server_and_its_files() -> None:
    server = ThrowawayPostgres().start()
    url = server.create_database("gone")
    server.stop()
    assert not os.path.exists(server.root)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_database_names_are_checked_before_reaching_sql(postgres_server: ThrowawayPostgres) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        postgres_server.create_database('x"; DROP DATABASE postgres; --')
