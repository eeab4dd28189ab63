"""A database file with one damaged page is refused at start, /healthz reports one that went
bad while serving (issue 26, item 13), and /healthz never shows the driver's error text
(item 6)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cloud_helpers import db_for, make_app, make_family
from retention_helpers import ALL_PURPOSES, send

from cloud.storage import integrity
from cloud.storage.db import close_worker_connections, open_db
from cloud.storage.integrity import DatabaseDamaged


def _a_busy_database(tmp_path: Path) -> Path:
    app = make_app(tmp_path, purge_interval_s=0)
    db = db_for(app)
    family = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    for n in range(60):
        word = "".join(chr(ord("a") + int(d)) for d in f"{n:03d}")
        send(app, family, "tell_story", {"topic": f"dragons and quokkas {word}"})
    db.close()
    close_worker_connections()
    return tmp_path / "cloud.db"


def _damage_a_page(path: Path) -> int:
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'intent_events'"
                        ).fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)
    return int(root)


def test_a_damaged_database_is_refused_at_start_in_one_line(tmp_path: Path) -> None:
    path = _a_busy_database(tmp_path)
    open_db(str(path)).close()  # control: the whole file starts
    _damage_a_page(path)
    with pytest.raises(DatabaseDamaged, match="is damaged"):
        open_db(str(path))
    result = subprocess.run(
        [sys.executable, "-m", "teddy.cli", "cloud", "serve", "--db", str(path), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "is damaged" in lines[0] and "restore it from a backup" in lines[0]


def test_healthz_reports_a_file_damaged_while_serving_without_driver_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _a_busy_database(tmp_path)
    app = make_app(tmp_path, purge_interval_s=0)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # control
    _damage_a_page(path)
    monkeypatch.setattr(integrity, "HEALTH_CHECK_EVERY_S", 0.0)
    reply = client.get("/healthz")
    assert reply.status_code == 503
    assert reply.get_json()["problems"] == ["database file damaged (PRAGMA quick_check failed)"]
    assert "btree" not in reply.get_data(as_text=True).lower()


def test_healthz_keeps_the_database_error_text_to_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path, purge_interval_s=0)
    secret_text = "unable to open /srv/secret-volume/teddy.db as teddy_admin"

    def broken() -> None:
        raise sqlite3.OperationalError(secret_text)

    import cloud.health

    monkeypatch.setattr(cloud.health, "get_db", broken)
    reply = app.test_client().get("/healthz")
    assert reply.status_code == 503
    assert reply.get_json()["problems"] == ["database unreadable or not answering"]
    assert "secret-volume" not in reply.get_data(as_text=True)
