"""State shared by every app server on one database (issue 18, must-have 2).

Real processes on one database: two `teddy cloud serve` servers for sessions and the sign-in
throttle, separate Python processes for the leases. Each check has a negative control: the
same scenario with the sharing taken away, which the check must then catch.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher

from cloud.fleet.lease import PURGE, Lease, holding
from cloud.fleet.session_key import shared_session_key
from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess

WORKER = Path(__file__).with_name("fleet_lease_worker.py")
PASSWORD = "correct horse battery staple"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
QUIET = {"TEDDY_PURGE_INTERVAL_S": "0", "TEDDY_LOGIN_ATTEMPTS_PER_15_MIN": "3"}


# Every test runs on both backends unless marked for SQLite alone.
pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def db_path(cloud_db_path: str) -> str:
    """The database every server and process in a test shares: a file or a PostgreSQL URL."""
    return cloud_db_path


def _add_parent(db_path: str, email: str) -> int:
    db = open_db(db_path)
    try:
        hashed = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
        row = db.execute("INSERT INTO parents (email, password_hash, created_at) "
                         "VALUES (?, ?, ?) RETURNING id", [email, hashed, time.time()]).fetchall()
        return int(row[0][0])
    finally:
        db.close()


@pytest.fixture
def two_servers(db_path: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[
        tuple[CloudProcess, CloudProcess]]:
    """Two app servers on one database; `own_keys` gives each its own secret instead (the
    negative control: what a fleet without a shared key would do)."""
    own_keys = getattr(request, "param", False)
    open_db(db_path).close()
    envs = [dict(QUIET), dict(QUIET)]
    if own_keys:
        envs[0]["TEDDY_SECRET_KEY"], envs[1]["TEDDY_SECRET_KEY"] = "a" * 64, "b" * 64
    a = CloudProcess(db_path, env=envs[0], log_path=tmp_path / "a.log")
    b = CloudProcess(db_path, env=envs[1], log_path=tmp_path / "b.log")
    # Started once each (entering a CloudProcess starts it too: a second start would leave
    # the first server running after the test).
    try:
        a.start(timeout_s=60)
        b.start(timeout_s=60)
        yield a, b
    finally:
        a.stop()
        b.stop()


def _csrf(session: requests.Session, server: CloudProcess) -> str:
    match = CSRF_META.search(session.get(f"{server.url}/parent/notice", timeout=10).text)
    assert match
    return match[1]


def _sign_in(session: requests.Session, server: CloudProcess, email: str,
             password: str = PASSWORD) -> requests.Response:
    return session.post(f"{server.url}/parent/login", timeout=30, allow_redirects=False,
                        data={"csrf_token": _csrf(session, server), "email": email,
                              "password": password})


def _signed_in(session: requests.Session, server: CloudProcess) -> bool:
    response = session.get(f"{server.url}/parent/", timeout=10, allow_redirects=False)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


# -- sessions ---------------------------------------------------------------------------------

def test_a_session_from_server_a_works_on_b_and_signing_out_on_b_ends_it_on_a(
        db_path: str, two_servers: tuple[CloudProcess, CloudProcess]) -> None:
    a, b = two_servers
    _add_parent(db_path, "fleet@example.org")
    browser = requests.Session()  # cookies are per host, not per port: one browser, two servers
    assert _sign_in(browser, a, "fleet@example.org").status_code == 302
    assert _signed_in(browser, a) and _signed_in(browser, b)
    signed_out = browser.post(f"{b.url}/parent/logout", timeout=10, allow_redirects=False,
                              data={"csrf_token": _csrf(browser, b)})
    assert signed_out.status_code == 302
    # A copy of the cookie taken before signing out is dead on both servers.
    assert not _signed_in(browser, a) and not _signed_in(browser, b)


@pytest.mark.parametrize("two_servers", [True], indirect=True)
def test_negative_control_servers_with_their_own_keys_do_not_share_sessions(
        db_path: str, two_servers: tuple[CloudProcess, CloudProcess]) -> None:
    a, b = two_servers
    _add_parent(db_path, "fleet@example.org")
    browser = requests.Session()
    assert _sign_in(browser, a, "fleet@example.org").status_code == 302
    assert _signed_in(browser, a) and not _signed_in(browser, b)


def _failed_sign_ins(servers: list[CloudProcess], email: str) -> list[int]:
    browser = requests.Session()
    return [_sign_in(browser, server, email, "wrong password").status_code
            for server in servers]


def test_the_sign_in_throttle_counts_failures_on_every_server(
        db_path: str, two_servers: tuple[CloudProcess, CloudProcess]) -> None:
    a, b = two_servers
    _add_parent(db_path, "fleet@example.org")
    # The limit is 3: two failures on A and one on B use it up on both servers.
    assert _failed_sign_ins([a, b, a, b, a], "fleet@example.org") == [401, 401, 401, 429, 429]


@pytest.mark.parametrize("two_servers", [True], indirect=True)
def test_negative_control_with_own_keys_each_server_counts_alone(
        db_path: str, two_servers: tuple[CloudProcess, CloudProcess]) -> None:
    a, b = two_servers
    _add_parent(db_path, "fleet@example.org")
    # Five failures against a limit of 3, and neither server refuses: A saw 3, B saw 2.
    assert _failed_sign_ins([a, b, a, b, a], "fleet@example.org") == [401] * 5


# -- the session key --------------------------------------------------------------------------

def test_servers_starting_at_once_on_a_fresh_database_agree_on_one_key(db_path: str) -> None:
    processes = [subprocess.Popen([sys.executable, str(WORKER), "key", db_path],
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
    keys = {process.communicate(timeout=120)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert len(keys) == 1 and len(keys.pop()) == 64


@pytest.mark.backends("sqlite")
def test_an_existing_key_file_is_adopted_so_signed_in_parents_stay_signed_in(
        db_path: str) -> None:
    key_file = Path(f"{db_path}.key")
    key_file.write_text("5" * 64)
    db = open_db(db_path)
    assert shared_session_key(db, db_path) == "5" * 64
    assert not key_file.exists(), "one copy of the key, in the database"
    key_file.write_text("6" * 64)  # a stray file later changes nothing
    assert shared_session_key(db, db_path) == "5" * 64


def test_an_explicit_secret_wins_and_leaves_the_database_alone(db_path: str) -> None:
    from cloud.app import create_app

    app = create_app(db_path=db_path, secret_key="explicit", purge_interval_s=0)
    assert app.config["SECRET_KEY"] == "explicit"
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM server_secrets").fetchone()[0] == 0
    shared = create_app(db_path=db_path, purge_interval_s=0).config["SECRET_KEY"]
    assert shared == shared_session_key(db, db_path) != "explicit"


@pytest.mark.backends("sqlite")
def test_backups_leave_the_session_key_out(db_path: str, tmp_path: Path) -> None:
    from cloud.retention.backup import create_backup

    db = open_db(db_path)
    key = shared_session_key(db, db_path)
    db.close()
    assert key.encode() in Path(db_path).read_bytes(), \
        "negative control: the scan finds the key where it is"
    copy = create_backup(db_path, tmp_path / "backups", time.time())
    assert key.encode() not in copy.read_bytes()
    assert open_db(str(copy), migrate_schema=False).execute(
        "SELECT COUNT(*) FROM server_secrets").fetchone()[0] == 0


# -- leases -----------------------------------------------------------------------------------

def _turn_intervals(log: Path) -> list[tuple[float, float]]:
    marks = [line.split() for line in log.read_text().splitlines()]
    starts = sorted(float(t) for kind, t in marks if kind == "start")
    ends = sorted(float(t) for kind, t in marks if kind == "end")
    assert len(starts) == len(ends)
    return list(zip(starts, ends, strict=True))


def _overlapping(intervals: list[tuple[float, float]]) -> int:
    """How many turns began before the previous one ended."""
    return sum(start < previous_end for (_, previous_end), (start, _) in
               zip(intervals, intervals[1:], strict=False))


def _run_turns(db_path: str, log: Path, *extra: str) -> None:
    open_db(db_path).close()
    processes = [subprocess.Popen([sys.executable, str(WORKER), "turns", db_path, str(log),
                                   "3", *extra]) for _ in range(3)]
    for process in processes:
        assert process.wait(timeout=120) == 0


def test_only_one_process_holds_the_purge_lease_at_a_time(db_path: str, tmp_path: Path) -> None:
    log = tmp_path / "turns.log"
    _run_turns(db_path, log)
    intervals = _turn_intervals(log)
    assert len(intervals) == 9 and _overlapping(intervals) == 0


def test_negative_control_without_the_lease_turns_overlap(db_path: str, tmp_path: Path) -> None:
    log = tmp_path / "turns.log"
    _run_turns(db_path, log, "--no-lease")
    assert _overlapping(_turn_intervals(log)) > 0


def test_a_killed_holder_on_this_host_is_taken_over_at_once(db_path: str) -> None:
    """A server killed mid-erasure and restarted must carry on at once, as with a flock."""
    open_db(db_path).close()
    holder = subprocess.Popen([sys.executable, str(WORKER), "hold", db_path, "60"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    taker = Lease(open_db(db_path), PURGE, ttl_s=60)
    current = taker.current_holder()
    assert current is not None and current[0].split(":")[1] == str(holder.pid)
    assert current[1] > time.time() + 30, "the dead holder's lease has not expired"
    assert taker.try_take()
    assert taker.current_holder() == (taker.holder, pytest.approx(time.time() + 60, abs=5))


def test_a_holder_on_another_host_is_waited_out_until_its_lease_expires(db_path: str) -> None:
    """No server can see another host's processes: only expiry frees its lease."""
    db = open_db(db_path)
    dead_pid = _a_pid_that_is_not_running()
    expires_at = time.time() + 1.0
    db.execute("INSERT INTO leases (name, holder, taken_at, expires_at) VALUES (?, ?, ?, ?)",
               [PURGE, f"another-host:{dead_pid}:abcd", time.time(), expires_at])
    taker = Lease(db, PURGE, ttl_s=2)
    assert not taker.try_take()
    while time.time() <= expires_at:
        time.sleep(0.05)
    assert taker.try_take()


def test_negative_control_a_live_holder_on_this_host_is_not_taken_over(db_path: str) -> None:
    db = open_db(db_path)
    db.execute("INSERT INTO leases (name, holder, taken_at, expires_at) VALUES (?, ?, ?, ?)",
               [PURGE, f"{socket.gethostname()}:{os.getpid()}:abcd", time.time(),
                time.time() + 60])
    assert not Lease(db, PURGE, ttl_s=60).try_take()


def _a_pid_that_is_not_running() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_a_live_holder_keeps_its_lease_past_the_ttl_by_renewing_it(db_path: str) -> None:
    open_db(db_path).close()
    other = Lease(open_db(db_path), PURGE, ttl_s=0.6)
    with holding(db_path, PURGE, wait=False, ttl_s=0.6) as mine:
        assert mine
        time.sleep(1.5)
        assert not other.try_take()
    assert other.try_take(), "released when the block ends"


def test_negative_control_a_lease_nobody_renews_is_taken_over(db_path: str) -> None:
    open_db(db_path).close()
    first = Lease(open_db(db_path), PURGE, ttl_s=0.6)
    other = Lease(open_db(db_path), PURGE, ttl_s=0.6)
    assert first.try_take() and not other.try_take()
    time.sleep(1.0)
    assert other.try_take() and not first.renew()


def test_a_lease_needs_a_positive_ttl(db_path: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        Lease(open_db(db_path), PURGE, ttl_s=0)


def _cli_purge(db_path: str) -> float:
    """Run `teddy cloud purge` to the end; returns the wall time it finished at."""
    result = subprocess.run([sys.executable, "-m", "teddy", "cloud", "purge", "--db", db_path],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return time.time()


@pytest.mark.slow("waits for another server's purge to finish")
def test_an_on_demand_purge_waits_while_another_server_purges(db_path: str) -> None:
    open_db(db_path).close()
    scheduled = Lease(open_db(db_path), PURGE, ttl_s=6, holder="another-server:1:scheduled")
    assert scheduled.try_take()  # a scheduled purge that dies mid-way: it never releases
    current = scheduled.current_holder()
    assert current is not None
    assert _cli_purge(db_path) >= current[1], "the CLI purged before the other turn ended"


def test_negative_control_a_lease_the_purge_does_not_use_does_not_hold_it_up(
        db_path: str) -> None:
    open_db(db_path).close()
    unrelated = Lease(open_db(db_path), "something-else", ttl_s=120)
    assert unrelated.try_take()
    current = unrelated.current_holder()
    assert current is not None and _cli_purge(db_path) < current[1]


# -- behind a reverse proxy -------------------------------------------------------------------

def _sign_in_statuses_from(app_db: str, proxy_hops: int, addresses: list[str]) -> list[int]:
    """Failed sign-ins through one proxy (REMOTE_ADDR 10.0.0.2), each from the client
    address the proxy names in X-Forwarded-For."""
    from parent_web_helpers import csrf

    from cloud.app import create_app

    app = create_app(db_path=app_db, purge_interval_s=0, login_attempts_per_15_min=3,
                     proxy_hops=proxy_hops)
    _add_parent(app_db, "proxied@example.org")
    statuses = []
    for address in addresses:
        client = app.test_client()
        environ = {"REMOTE_ADDR": "10.0.0.2"}
        headers = {"X-Forwarded-For": address}
        token = csrf(client)
        statuses.append(client.post("/parent/login", environ_base=environ, headers=headers,
                                    data={"csrf_token": token, "email": "proxied@example.org",
                                          "password": "wrong"}).status_code)
    return statuses


def test_behind_a_proxy_each_client_address_is_throttled_on_its_own(db_path: str) -> None:
    addresses = ["198.51.100.7"] * 3 + ["203.0.113.9", "198.51.100.7"]
    assert _sign_in_statuses_from(db_path, 1, addresses) == [401, 401, 401, 401, 429]


def test_negative_control_without_proxy_hops_every_client_shares_the_proxys_address(
        db_path: str) -> None:
    addresses = ["198.51.100.7"] * 3 + ["203.0.113.9", "198.51.100.7"]
    assert _sign_in_statuses_from(db_path, 0, addresses) == [401, 401, 401, 429, 429]
