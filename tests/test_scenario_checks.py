"""Checks only a crash can exercise, tried on hand-made evidence so they can be seen to fail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from scenarios.checks.erasure import retry_honest
from scenarios.context import ScenarioContext
from scenarios.model import Scenario
from scenarios.processes import CloudServer


def _context(tmp_path: Path, canary_left: bool) -> ScenarioContext:
    scenario = Scenario(path=Path("x.yaml"), name="x", title="x", story="", toy_variant=None,
                        cloud_variant=None, tls=False, cloud_env={}, cloud_config={}, steps=())
    ctx = ScenarioContext(scenario, tmp_path, CloudServer(tmp_path))
    db = sqlite3.connect(ctx.cloud.db_path)
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES (?)", ["Scarlett" if canary_left else "nobody"])
    db.commit()
    db.close()
    return ctx


def test_a_retry_that_says_nothing_here_while_copies_remain_is_a_violation(
        tmp_path: Path) -> None:
    ctx = _context(tmp_path, canary_left=True)
    ctx.family("a").retry = {"status": 404, "text": "Not found", "receipt": False}
    seen = retry_honest(ctx, {"values": ["scarlett"]})
    assert not seen.held and "while copies remain" in seen.evidence


def test_progress_or_an_honest_not_found_hold(tmp_path: Path) -> None:
    ctx = _context(tmp_path, canary_left=True)
    ctx.family("a").retry = {"status": 202, "text": "in progress", "receipt": False}
    assert retry_honest(ctx, {"values": ["scarlett"]}).held
    (tmp_path / "clean").mkdir()
    clean = _context(tmp_path / "clean", canary_left=False)
    clean.family("a").retry = {"status": 404, "text": "Not found", "receipt": False}
    assert retry_honest(clean, {"values": ["scarlett"]}).held
