"""Which backend a --db value names, and the clear errors for values that name neither."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.storage.url import backend_of, redacted, sqlite_path


@pytest.mark.parametrize(("value", "backend", "path"), [
    ("teddy-cloud.db", "sqlite", "teddy-cloud.db"),
    ("/var/lib/teddy/cloud.db", "sqlite", "/var/lib/teddy/cloud.db"),
    ("./data/cloud.db", "sqlite", "./data/cloud.db"),
    (":memory:", "sqlite", ":memory:"),
    ("sqlite:///cloud.db", "sqlite", "cloud.db"),
    ("sqlite:////tmp/x/cloud.db", "sqlite", "/tmp/x/cloud.db"),
    ("SQLite:///cloud.db", "sqlite", None),  # scheme is case-insensitive, prefix is not
])
def test_sqlite_forms(value: str, backend: str, path: str | None) -> None:
    if path is None:
        with pytest.raises(ValueError, match="not an SQLite URL"):
            backend_of(value)
        return
    assert backend_of(value) == backend
    assert sqlite_path(value) == path


@pytest.mark.parametrize("value", [
    "postgresql://teddy@db.internal/teddy",
    "postgres://teddy:pw@127.0.0.1:5432/teddy",
    "postgresql:///teddy?host=/tmp/sock&user=postgres",
    "POSTGRESQL://x/y",
])
def test_postgres_forms(value: str) -> None:
    assert backend_of(value) == "postgresql"
    with pytest.raises(ValueError, match="not an SQLite database"):
        sqlite_path(value)


@pytest.mark.parametrize(("value", "message"), [
    ("mysql://root@localhost/teddy", "unsupported database.*mysql"),
    ("oracle://x", "unsupported database"),
    ("sqlite://cloud.db", "not an SQLite URL"),
    ("sqlite:/cloud.db", "not an SQLite URL"),
    ("sqlite:///", "names no file"),
    ("sqlite:///cloud.db?mode=ro", "take no options"),
    ("postgresql:teddy", "not a PostgreSQL URL"),
    ("", "no database given"),
    ("   ", "no database given"),
])
def test_bad_values_are_clear_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backend_of(value)


def test_errors_never_show_a_password() -> None:
    with pytest.raises(ValueError) as raised:
        backend_of("mysql://root:hunter2@localhost/teddy")
    assert "hunter2" not in str(raised.value)
    assert redacted("postgresql://teddy:hunter2@db/teddy") == "postgresql://teddy:***@db/teddy"
    assert redacted("postgresql://teddy@db/teddy") == "postgresql://teddy@db/teddy"
    assert redacted("postgresql:///t?host=/s&password=hunter2&user=u") == \
        "postgresql:///t?host=/s&password=***&user=u"


def test_an_sqlite_url_works_like_its_path(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Files beside the database (key store, backups) land beside the file, not in `sqlite:`."""
    from retention_helpers import cloud_cli

    from cloud.app import create_app
    from cloud.config import CloudConfig

    target = tmp_path / "cloud.db"
    config = CloudConfig.from_sources(db_path=f"sqlite:///{target}")
    assert config.db_path == str(target)
    assert cloud_cli(["verify-audit", "--db", f"sqlite:///{target}"]) == 2  # no database yet
    create_app(db_path=f"sqlite:///{target}")
    assert target.is_file()
    assert cloud_cli(["verify-audit", "--db", f"sqlite:///{target}"]) == 0
    assert cloud_cli(["backup", "--db", f"sqlite:///{target}"]) == 0
    assert list((tmp_path / "cloud.db.backups").iterdir())
    assert not Path("sqlite:").exists()
    with pytest.raises(ValueError, match="unsupported database"):
        CloudConfig.from_sources(db_path="mysql://root@localhost/teddy")
    capsys.readouterr()
