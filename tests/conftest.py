"""Fixtures shared across the suite: a cloud app on a temporary database and its clients.

The cloud fixtures (`app`, `db`, `client`) run on SQLite by default. A test module or test
marked `@pytest.mark.backends("sqlite", "postgresql")` runs once per backend, the PostgreSQL
run on a fresh database of one session-wide throwaway server. TEDDY_TEST_BACKENDS (e.g.
"sqlite,postgresql") changes the default for unmarked tests, to run everything on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlite_utils
from cloud_helpers import db_for, make_app
from flask import Flask
from flask.testing import FlaskClient

from cloud.storage.db import close_worker_connections, open_db
from cloud.storage.throwaway_postgres import ThrowawayPostgres

# The end-of-run check for processes left running, and how tests share the cores under xdist.
pytest_plugins = ["orphan_check", "parallel_safety"]

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session", autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Key stores of PostgreSQL-backed clouds default to the user's state directory
    (cloud.keys.location); tests, and the servers they start, keep theirs in a temporary one."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


def default_backends() -> tuple[str, ...]:
    wanted = tuple(b.strip() for b in os.environ.get("TEDDY_TEST_BACKENDS", "sqlite").split(",")
                   if b.strip())
    unknown = set(wanted) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"TEDDY_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}")
    return wanted


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cloud_backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    chosen = tuple(marker.args) if marker else default_backends()
    repeat = len(chosen) > 1 and not (marker and marker.kwargs.get("fast_tier"))
    # A test on both backends repeats its PostgreSQL run in the full tier only, unless marked
    # backends(..., fast_tier=True): those few keep PostgreSQL in the fast tier.
    params = [pytest.param(name, marks=pytest.mark.slow("PostgreSQL repeat of a SQLite test"))
              if repeat and name == "postgresql" else name for name in chosen]
    metafunc.parametrize("cloud_backend", params, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers("slow"):
            if len(marker.args) != 1 or not str(marker.args[0]).strip():
                raise pytest.UsageError(f"{item.nodeid}: slow() takes one reason, "
                                        'e.g. @pytest.mark.slow("runs the whole catalogue")')


@pytest.fixture
def cloud_backend(request: pytest.FixtureRequest) -> str:
    """"sqlite" or "postgresql": which database the cloud fixtures of this test use."""
    return str(request.param)


@pytest.fixture
def cloud_db_path(cloud_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh database for the test on its backend: a file path, or a PostgreSQL URL."""
    if cloud_backend == "postgresql":
        return str(request.getfixturevalue("cloud_postgres_url"))
    return str(tmp_path / "cloud.db")


@pytest.fixture
def app(tmp_path: Path, cloud_db_path: str) -> Flask:
    """The cloud app with an injectable clock at tmp_path/clock-offset."""
    return make_app(tmp_path, clock_file=str(tmp_path / "clock-offset"), db_path=cloud_db_path)


@pytest.fixture
def db(app: Flask) -> Iterator[sqlite_utils.Database]:
    connection = db_for(app)
    yield connection
    connection.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """One private PostgreSQL server (Unix socket only) for the whole run."""
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> Iterator[str]:
    """A fresh, empty database on the shared server for one test."""
    name = "t_" + uuid.uuid4().hex[:16]
    yield postgres_server.create_database(name)
    _drop_database(postgres_server, name)


CLOUD_TEMPLATE = "teddy_cloud_template"


@pytest.fixture(scope="session")
def cloud_postgres_template(postgres_server: ThrowawayPostgres) -> str:
    """A database migrated once by the cloud's own migrations, to copy per test: copying a
    template is several times faster than creating and migrating a database."""
    url = postgres_server.create_database(CLOUD_TEMPLATE)
    open_db(url).close()
    return CLOUD_TEMPLATE


@pytest.fixture
def cloud_postgres_url(postgres_server: ThrowawayPostgres,
                       cloud_postgres_template: str) -> Iterator[str]:
    """A fresh database holding the cloud's current schema and nothing else, for one test."""
    name = "c_" + uuid.uuid4().hex[:16]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{cloud_postgres_template}"')
    yield postgres_server.url(name)
    close_worker_connections()
    _drop_database(postgres_server, name)


def _drop_database(server: ThrowawayPostgres, name: str) -> None:
    """Drop a test's database and check nothing named after it was left (key stores are files
    in the session's private state directory, not databases)."""
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        left = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                             [name + "%"]).fetchall()
    assert left == [], f"databases left behind: {left}"
