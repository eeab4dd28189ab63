"""Fixtures shared across the suite: a cloud app on a temporary database and its clients."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import db_for, make_app
from flask import Flask
from flask.testing import FlaskClient

from cloud.storage.throwaway_postgres import ThrowawayPostgres


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The cloud app with an injectable clock at tmp_path/clock-offset."""
    return make_app(tmp_path, clock_file=str(tmp_path / "clock-offset"))


@pytest.fixture
def db(app: Flask) -> sqlite_utils.Database:
    return db_for(app)


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
    postgres_server.drop_database(name)
