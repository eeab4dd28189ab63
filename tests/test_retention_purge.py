"""R15, R16, R21: retention from the data map, enforced by the purge, on a moved clock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cloud_helpers import cloud_backend_of, db_for, make_app, make_family
from retention_helpers import DAY_S, chatty_family, cloud_cli, count, later, send

from cloud import audit
from cloud.clock import Clock
from cloud.retention import bulk
from cloud.retention.policy import backup_retention_days, erase_plan, table_retention
from cloud.retention.proof import scan_for_canaries
from cloud.retention.purge import EXEMPT, EXPIRY_RULES, purge_expired
from cloud.retention.scheduler import EXTENSION, PurgeScheduler
from teddy.contracts.data_map import data_map


def test_every_declared_table_has_an_expiry_rule_or_a_stated_exemption() -> None:
    declared = set(data_map().tables)
    assert set(EXPIRY_RULES) | set(EXEMPT) == declared
    assert not set(EXPIRY_RULES) & set(EXEMPT)


def test_retention_figures_come_from_the_data_map() -> None:
    assert table_retention()["intent_events"].days == data_map().retention_days("intent_events")
    assert table_retention()["profile_facts"].days == 90
    # Backups outlive no personal child record: the shortest such retention is history's.
    assert backup_retention_days() == data_map().retention_days("intent_events") == 30


@pytest.mark.backends("sqlite", "postgresql")
def test_history_is_gone_after_31_days_and_kept_at_29(tmp_path: Path, cloud_db_path: str) -> None:
    _app, db, family = chatty_family(tmp_path, db_path=cloud_db_path)
    assert count(db, "intent_events", "child_id = ?", [family.child_id]) == 3

    early = purge_expired(db, later(29))
    assert early.rows.get("intent_events", 0) == 0
    assert count(db, "intent_events") == 3

    report = purge_expired(db, later(31))
    assert report.rows["intent_events"] == 3
    assert count(db, "intent_events") == 0
    # The purge itself is accounted for, with counts only (R27).
    entry = db.execute("SELECT details_json FROM audit_log WHERE action = 'retention.purge' "
                       "ORDER BY seq DESC").fetchone()
    assert entry is not None and '"intent_events": 3' in entry[0]
    assert audit.verify(db).ok


@pytest.mark.backends("sqlite", "postgresql")
def test_personalisation_facts_go_after_90_days_and_stop_shaping_replies(
        tmp_path: Path, cloud_db_path: str) -> None:
    app, db, family = chatty_family(tmp_path, db_path=cloud_db_path, parent_typed_name=False)
    assert count(db, "profile_facts", "child_id = ?", [family.child_id]) >= 2
    purge_expired(db, later(89))
    assert count(db, "profile_facts", "child_id = ?", [family.child_id]) >= 2
    report = purge_expired(db, later(91))
    assert report.rows["profile_facts"] >= 2
    assert count(db, "profile_facts") == 0
    reply = send(app, family, "tell_joke", {})
    assert reply["personalised"] is False
    assert "Zelphinia" not in str(reply["reply"])


@pytest.mark.backends("sqlite", "postgresql")
def test_inactive_child_is_erased_whole_and_active_one_kept(
        tmp_path: Path, cloud_db_path: str) -> None:
    app, db, idle = chatty_family(tmp_path, db_path=cloud_db_path, inactive_profile_days=180)
    active = make_family(db, purposes=("core",))
    # The active child's toy spoke recently; the idle one's last spoke now.
    db.execute("UPDATE children SET last_active_at = ? WHERE id = ?", [later(170), active.child_id])

    report = purge_expired(db, later(181), inactive_profile_days=180)
    assert report.children_erased == 1 and len(report.receipts) == 1
    for table in erase_plan(db).by_child:
        assert count(db, table, "child_id = ?", [idle.child_id]) == 0, table
    assert count(db, "children", "id = ?", [idle.child_id]) == 0
    assert count(db, "seen_nonces", "device_id = ?", [idle.device_id]) == 0
    assert count(db, "children", "id = ?", [active.child_id]) == 1
    erase_entry = db.execute(
        "SELECT actor, details_json FROM audit_log WHERE action = 'child.erase'").fetchone()
    assert erase_entry[0] == "system" and '"reason": "inactive"' in erase_entry[1]
    if cloud_backend_of(app) == "sqlite":  # the byte scan is SQLite's (docs/cloud.md)
        assert scan_for_canaries(app.config["TEDDY"].db_path,
                                 ["Zelphinia", "quokkadragon"]) == []


@pytest.mark.backends("sqlite", "postgresql")
def test_nonces_codes_and_long_revoked_consents_expire(tmp_path: Path, cloud_db_path: str) -> None:
    _app, db, family = chatty_family(tmp_path, db_path=cloud_db_path)
    db.execute("UPDATE consents SET revoked_at = ? WHERE purpose = 'history'",
               [time.time() - 1096 * DAY_S])
    db.execute("INSERT INTO pairing_codes (code, child_id, expires_at) VALUES ('ABCD-EFGH', ?, ?)",
               [family.child_id, time.time() + 900])
    assert count(db, "seen_nonces") == 3
    report = purge_expired(db, later(2))
    assert report.rows["seen_nonces"] == 3
    assert report.rows["pairing_codes"] == 1
    assert report.rows["consents"] == 1
    assert count(db, "consents", "purpose = 'history'") == 0
    assert count(db, "consents") == 2


@pytest.mark.backends("sqlite", "postgresql")
def test_bad_arguments_are_refused_and_change_nothing(tmp_path: Path, cloud_db_path: str) -> None:
    _app, db, _family = chatty_family(tmp_path, db_path=cloud_db_path)
    with pytest.raises(ValueError):
        purge_expired(db, later(31), inactive_profile_days=0)
    db.execute("BEGIN")
    with pytest.raises(RuntimeError):
        purge_expired(db, later(31))
    db.execute("ROLLBACK")
    assert count(db, "intent_events") == 3


def test_bulk_purge_keeps_survivors_exactly_and_leaves_no_bytes(tmp_path: Path) -> None:
    app = make_app(tmp_path, purge_interval_s=0)
    db = db_for(app)
    family = make_family(db, purposes=("core", "history"))
    now = time.time()
    rows = [(family.child_id, family.device_id, "tell_story", '{"topic": "zorbleflax"}',
             now - 40 * DAY_S, now - 10 * DAY_S)] * (bulk.BULK_MIN_ROWS + 2000)
    rows += [(family.child_id, family.device_id, "sing_song", '{"song": "keeper"}', now, now +
              20 * DAY_S)] * 500
    db.execute("BEGIN")
    db.conn.executemany(
        "INSERT INTO intent_events (child_id, device_id, intent, slots_json, received_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    kept_before = db.execute("SELECT * FROM intent_events WHERE expires_at > ? ORDER BY id",
                             [now]).fetchall()
    db_path = app.config["TEDDY"].db_path

    report = purge_expired(db, now)
    assert report.rows["intent_events"] == bulk.BULK_MIN_ROWS + 2000
    assert db.execute("SELECT * FROM intent_events ORDER BY id").fetchall() == kept_before
    assert report.checkpoint_complete
    assert not bulk.vacuum_marker(db_path).exists()
    assert scan_for_canaries(db_path, ["zorbleflax"]) == []
    # The indexes the bulk path rebuilt are all back.
    names = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE tbl_name = 'intent_events' AND type = 'index'")}
    assert {"intent_events_by_child", "intent_events_by_expiry"} <= names


def test_an_interrupted_bulk_purge_is_vacuumed_by_the_next_one(tmp_path: Path) -> None:
    app, db, _family = chatty_family(tmp_path)
    db_path = app.config["TEDDY"].db_path
    bulk.vacuum_marker(db_path).touch()
    report = purge_expired(db, time.time())
    assert report.vacuumed and not bulk.vacuum_marker(db_path).exists()


def test_cli_purge_uses_the_clock_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    app, db, _family = chatty_family(tmp_path)
    db.close()
    clock_file = tmp_path / "clock"
    db_path = app.config["TEDDY"].db_path
    assert cloud_cli(["purge", "--db", db_path, "--clock-file", str(clock_file)]) == 0
    assert count(db_for(app), "intent_events") == 3
    Clock(str(clock_file)).advance(31 * DAY_S)
    capsys.readouterr()
    assert cloud_cli(["purge", "--db", db_path, "--clock-file", str(clock_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["intent_events"] == 3
    assert count(db_for(app), "intent_events") == 0
    assert cloud_cli(["purge", "--db", str(tmp_path / "missing.db")]) == 2


def test_scheduler_purges_on_its_own_after_the_clock_moves(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock"
    app, db, _family = chatty_family(tmp_path, clock_file=str(clock_file))
    scheduler: PurgeScheduler = app.extensions[EXTENSION]
    scheduler.config.purge_interval_s = 0.05
    Clock(str(clock_file)).advance(31 * DAY_S)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while count(db, "intent_events") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count(db, "intent_events") == 0
    finally:
        started = time.monotonic()
        scheduler.stop()
        assert time.monotonic() - started < 2 and not scheduler.running


def test_only_one_process_purges_at_a_time(tmp_path: Path) -> None:
    from cloud.fleet.lease import PURGE, Lease
    from cloud.storage.db import open_db

    app, _db, _family = chatty_family(tmp_path)
    scheduler: PurgeScheduler = app.extensions[EXTENSION]
    other = Lease(open_db(app.config["TEDDY"].db_path), PURGE, holder="another-server")
    assert other.try_take()  # as a purge running on another app server holds it
    assert scheduler.run_once() is False
    other.release()
    assert scheduler.run_once() is True


def test_the_running_server_purges_on_schedule_and_shuts_down_cleanly(tmp_path: Path) -> None:
    """Real gunicorn, two preloaded workers: the schedule survives the fork, and stops."""
    import os
    import signal
    import subprocess
    import sys

    import requests

    from teddy.cloud_process import free_port

    _app, db, family = chatty_family(tmp_path)
    db_path = _app.config["TEDDY"].db_path
    clock_file = tmp_path / "clock"
    port = free_port()
    code = ("from cloud.config import CloudConfig; from cloud.server import serve; "
            f"serve(CloudConfig.from_sources(db_path={db_path!r}, clock_file={str(clock_file)!r},"
            f" purge_interval_s=0.2), port={port})")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        assert count(db, "intent_events") == 3
        time.sleep(0.6)  # several rounds at the real time: nothing has expired yet
        assert count(db, "intent_events") == 3
        Clock(str(clock_file)).advance(31 * DAY_S)
        while count(db, "intent_events") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert count(db, "intent_events") == 0
        # The on-demand purge works beside the running server (WAL + busy timeout).
        assert cloud_cli(["purge", "--db", db_path, "--clock-file", str(clock_file)]) == 0
        assert count(db, "children", "id = ?", [family.child_id]) == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            pytest.fail("the server did not stop within 15 s of SIGTERM")
        log.close()
