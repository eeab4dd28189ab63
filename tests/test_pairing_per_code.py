"""A valid pairing code is never refused, and a guesser is bounded per code (issue 26, item 5).

The case the review left open: a family whose correct code comes from an address a guesser has
already used up (one carrier-grade NAT, school or hotel network). Here both are 127.0.0.1 at a
real `teddy cloud serve`, on SQLite and PostgreSQL, and the family pairs with the real
`teddy device pair`. A code's locator (its first 3 characters) names the pending pairing; wrong
tries at it count against that code from everywhere, and after 25 it is withdrawn.

Negative controls, in the same sequence: the old rule (`address_first=True`: an address past its
allowance is refused before its code is looked at) refuses the family; the loose rule
(`per_code=None`: every code naming a live one is checked, without limit) lets a guesser at the
family's code go on until it hits; and read-then-write counting (`atomic=False`) lets six
simultaneous workers check more tries at one code than its limit.
"""

from __future__ import annotations

import html
import math
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cloud_helpers import add_child, add_parent, fresh_pairing_code, make_app, make_family
from concurrency_helpers import guess_pairing_codes, run_guessers
from flask.testing import FlaskClient
from parent_web_helpers import add_child as add_child_on_page
from parent_web_helpers import fast_app, signup, submit

from cloud import pairing
from cloud.device_api.pairing_throttle import WINDOW_S, PairingThrottle
from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess
from teddy.contracts.pairing_code import CODE_ALPHABET

PER_ADDRESS = 10  # the configured default, pairing_attempts_per_15_min
OVERALL = 200  # pairing_attempts_global_per_15_min
LIMIT = pairing.WRONG_TRIES_PER_CODE
KEY = "per-code-test-key"


def nothing_live(n: int) -> str:
    """A wrong code whose locator names no live code: "0" is never in a code."""
    return f"0{n:03d}-ZZZZ"


def near_misses(code: str, count: int) -> list[str]:
    """`count` different wrong codes with `code`'s locator: a guesser aiming at that code."""
    secrets = (a + b for a in CODE_ALPHABET for b in CODE_ALPHABET)
    wrong = [f"{code[:5]}{pair}{code[7:]}" for pair in secrets]
    return [w for w in wrong if w != code][:count]


def pair_cli(cloud: CloudProcess, code: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "device", "pair", "--cloud", cloud.url,
                           "--code", code, "--state", str(state)],
                          capture_output=True, text=True, timeout=60)


def post_code(cloud: CloudProcess, code: str) -> requests.Response:
    return requests.post(cloud.url + "/api/v1/pair", json={"code": code}, timeout=10)


@pytest.mark.slow("a real cloud server and a real toy process")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_valid_code_pairs_first_time_from_an_address_a_guesser_used_up(
        tmp_path: Path, cloud_db_path: str) -> None:
    with CloudProcess(cloud_db_path, log_path=tmp_path / "cloud.log") as cloud:
        code = fresh_pairing_code(cloud_db_path)
        # The guesser behind the family's own address spends the address's allowance.
        assert [post_code(cloud, nothing_live(n)).status_code
                for n in range(PER_ADDRESS)] == [401] * PER_ADDRESS
        refused = post_code(cloud, nothing_live(99))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        result = pair_cli(cloud, code, tmp_path / "toy")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "toy" / "credentials.json").exists()
        # The guesser is still slowed: a code naming nothing live is refused unchecked.
        assert post_code(cloud, nothing_live(100)).status_code == 429


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_negative_control_the_old_address_first_rule_refuses_the_family(
        cloud_db_path: str) -> None:
    now = math.floor(time.time() / WINDOW_S) * WINDOW_S + WINDOW_S / 2
    db = open_db(cloud_db_path)
    try:
        code = pairing.issue_code(db, add_child(db, add_parent(db, "nat@example.org", now), now),
                                  now)
        results = {}
        for name, rule in (("old", PairingThrottle(PER_ADDRESS, OVERALL, KEY,
                                                   address_first=True)),
                           ("new", PairingThrottle(PER_ADDRESS, OVERALL, KEY))):
            client = f"192.0.2.{len(results) + 1}"
            for n in range(PER_ADDRESS):
                assert rule.attempt(db, client, nothing_live(n), now).retry_after_s is None
            assert rule.attempt(db, client, nothing_live(99), now).retry_after_s is not None
            results[name] = rule.attempt(db, client, code, now)
        assert results["old"].paired is None and results["old"].retry_after_s is not None
        assert results["new"].paired is not None and results["new"].retry_after_s is None
    finally:
        db.close()


@pytest.mark.slow("a real cloud server, 25 wrong tries and a real toy process")
@pytest.mark.backends("sqlite", "postgresql")
def test_wrong_tries_at_one_code_withdraw_it_and_the_toy_is_told(
        tmp_path: Path, cloud_db_path: str) -> None:
    with CloudProcess(cloud_db_path, log_path=tmp_path / "cloud.log") as cloud:
        code = fresh_pairing_code(cloud_db_path)
        statuses = [post_code(cloud, wrong).status_code for wrong in near_misses(code, LIMIT)]
        # Answered like any wrong code: 401 within the address's allowance, then 429.
        assert statuses == [401] * PER_ADDRESS + [429] * (LIMIT - PER_ADDRESS)
        withdrawn = post_code(cloud, code)
        assert withdrawn.status_code == 410 and "withdrawn" in withdrawn.json()["error"]
        result = pair_cli(cloud, code, tmp_path / "toy")
        assert result.returncode == 1 and result.stderr.strip() == (
            "teddy device: pairing refused: this pairing code was withdrawn after too many "
            "wrong tries at it (someone may have been guessing); make a new one on the parent "
            "page (Pair a toy)")
        assert not (tmp_path / "toy" / "credentials.json").exists()
        # The code was never paired: it is still there, counted, and nothing else is.
        db = open_db(cloud_db_path, migrate_schema=False)
        try:
            assert db.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 0
        finally:
            db.close()


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_negative_control_without_a_per_code_limit_the_guesser_gets_through(
        cloud_db_path: str) -> None:
    """The loose rule: check every code naming a live one, without counting per code. A guesser
    whose 26th try is right pairs; with the limit the code is withdrawn after 25 and the 26th
    (right) try pairs nothing."""
    now = math.floor(time.time() / WINDOW_S) * WINDOW_S + WINDOW_S / 2
    db = open_db(cloud_db_path)
    try:
        outcomes = {}
        for name, rule in (("loose", PairingThrottle(PER_ADDRESS, OVERALL, KEY, per_code=None)),
                           ("per code", PairingThrottle(PER_ADDRESS, OVERALL, KEY))):
            parent = add_parent(db, f"{name.replace(' ', '-')}@example.org", now)
            code = pairing.issue_code(db, add_child(db, parent, now), now)
            for n, wrong in enumerate(near_misses(code, LIMIT)):
                guesser = f"198.51.100.{n}"  # a new address each time: allowances don't help
                attempt = rule.attempt(db, guesser, wrong, now)
                assert attempt.checked and attempt.paired is None
            outcomes[name] = rule.attempt(db, "198.51.100.200", code, now)
        assert outcomes["loose"].paired is not None
        assert outcomes["per code"].paired is None and outcomes["per code"].withdrawn
    finally:
        db.close()


def text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_parent_page_shows_wrong_tries_and_a_withdrawn_code(tmp_path: Path) -> None:
    client: FlaskClient = fast_app(tmp_path, purge_interval_s=0).test_client()
    signup(client, "withdrawn@example.org")
    child_id = add_child_on_page(client)
    page = text(submit(client, f"/parent/children/{child_id}/pair", follow_redirects=True))
    code = page.split('aria-label="Pairing code">')[1][:9]
    misses = near_misses(code, LIMIT)
    assert client.post("/api/v1/pair", json={"code": misses[0]}).status_code == 401
    page = text(client.get(f"/parent/children/{child_id}/pair"))
    assert "1 wrong code was tried for this one. After 25 it is withdrawn" in page
    for wrong in misses[1:]:
        client.post("/api/v1/pair", json={"code": wrong})
    page = text(client.get(f"/parent/children/{child_id}/pair"))
    assert f"Your code {code} was withdrawn: 25 wrong codes were tried for it" in page
    assert 'id="pairing-code"' not in page and "New code" in page
    assert client.post("/api/v1/pair", json={"code": code}).status_code == 410
    # A new code starts afresh and pairs.
    page = text(submit(client, f"/parent/children/{child_id}/pair", follow_redirects=True))
    fresh = page.split('aria-label="Pairing code">')[1][:9]
    assert fresh != code and "wrong code" not in page
    assert client.post("/api/v1/pair", json={"code": fresh}).status_code == 201


def test_live_codes_never_share_a_locator_and_a_full_house_says_so(tmp_path: Path) -> None:
    app = make_app(tmp_path, purge_interval_s=0)
    from cloud_helpers import db_for

    db = db_for(app)
    now = time.time()
    families = [make_family(db) for _ in range(40)]
    codes = [pairing.issue_code(db, family.child_id, now) for family in families]
    assert len({code[:3] for code in codes}) == len(codes)
    # Every locator taken (rows written directly): a new code is refused in words, not looped.
    db.execute("DELETE FROM pairing_codes")
    child = families[0].child_id
    with db.conn:
        db.conn.executemany(
            "INSERT INTO pairing_codes (code, child_id, expires_at) VALUES (?, ?, ?)",
            [(f"{a}{b}{c}Z-ZZZZ", child, now + 600) for a in CODE_ALPHABET
             for b in CODE_ALPHABET for c in CODE_ALPHABET])
    with pytest.raises(pairing.PairingCodesExhausted, match="try again in a few minutes"):
        pairing.issue_code(db, families[1].child_id, now)


SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload(["cloud.app", "concurrency_helpers"])
# 6 tries at one code at a time, 4 rounds, 2 allowed: the first round already races for the
# last unit. The control overshoots when 3 workers read the count before the 2nd write; with a
# limit of 5 it needed all 6 before the 5th, and missed once in about a dozen runs under load.
WORKERS, ROUNDS, RACE_LIMIT = 6, 4, 2


def _race_at_one_code(db_path: str, atomic: bool) -> list[str]:
    now = math.floor(time.time() / WINDOW_S) * WINDOW_S + WINDOW_S / 2
    db = open_db(db_path)
    try:
        code = pairing.issue_code(db, add_child(db, add_parent(
            db, f"race-{time.time()}@example.org", now), now), now)
    finally:
        db.close()
    wrong = near_misses(code, WORKERS * ROUNDS)
    rounds, results = SPAWN.Barrier(WORKERS), SPAWN.Queue()
    # A large address allowance: only the per-code count is raced here.
    processes = [SPAWN.Process(target=guess_pairing_codes, args=(
        db_path, w, KEY, f"203.0.113.{w}", wrong[w * ROUNDS:(w + 1) * ROUNDS], now,
        (1000, 100_000), atomic, rounds, results, RACE_LIMIT)) for w in range(WORKERS)]
    outcomes = run_guessers(processes, results)
    return outcomes


@pytest.mark.slow("six processes race one database")
@pytest.mark.backends("sqlite", "postgresql")
def test_simultaneous_tries_at_one_code_are_checked_no_more_than_its_limit(
        cloud_db_path: str) -> None:
    outcomes = _race_at_one_code(cloud_db_path, atomic=True)
    assert outcomes.count("checked") == RACE_LIMIT
    assert outcomes.count("withdrawn") == WORKERS * ROUNDS - RACE_LIMIT


@pytest.mark.slow("six processes race one database")
@pytest.mark.backends("sqlite", "postgresql")
def test_negative_control_read_then_write_checks_more_tries_than_the_limit(
        cloud_db_path: str) -> None:
    outcomes = _race_at_one_code(cloud_db_path, atomic=False)
    assert outcomes.count("checked") > RACE_LIMIT, outcomes
