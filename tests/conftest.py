"""Fixtures shared across the suite: a cloud app on a temporary database and its clients."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import db_for, make_app
from flask import Flask
from flask.testing import FlaskClient


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
