"""Shared set-up for the retention, erasure and backup tests: a cloud, a family, real requests."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sqlite_utils
from cloud_helpers import Family, db_for, intent_body, make_app, make_family, signed_intent_headers
from flask import Flask

import cloud.cli

DAY_S = 86400.0
ALL_PURPOSES = ("core", "personalisation", "history")


def cloud_cli(argv: list[str]) -> int:
    """Run `teddy cloud ...` through the real parser registration in cloud/cli.py."""
    parser = argparse.ArgumentParser(prog="teddy")
    cloud.cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cloud", *argv])
    return int(args.handler(args))


def send(app: Flask, family: Family, intent: str, slots: dict[str, str | int],
         now: float | None = None) -> dict[str, object]:
    body = intent_body(family, intent, slots)
    reply = app.test_client().post("/api/v1/intent", data=body,
                                   headers=signed_intent_headers(family, body, now))
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def chatty_family(tmp_path: Path, name: str = "zelphinia", favourite: str = "quokkadragon", *,
                  parent_typed_name: bool = True, **overrides: object
                  ) -> tuple[Flask, sqlite_utils.Database, Family]:
    """A consenting family whose toy has shared a name and a favourite and asked for a story.

    With `parent_typed_name` the parent also entered the name on sign-up (children.first_name),
    which replies fall back on; tests about what shapes a reply leave it out.
    """
    app = make_app(tmp_path, purge_interval_s=0, **overrides)
    db = db_for(app)
    family = make_family(db, purposes=ALL_PURPOSES,
                         first_name=name.capitalize() if parent_typed_name else None)
    send(app, family, "share_name", {"child_name": name})
    send(app, family, "share_favorite", {"kind": "animal", "value": favourite})
    send(app, family, "tell_story", {"topic": "dragons"})
    return app, db, family


def count(db: sqlite_utils.Database, table: str, where: str = "1 = 1",
          args: list[object] | None = None) -> int:
    return int(db.execute(f"SELECT count(*) FROM \"{table}\" WHERE {where}",
                          args or []).fetchone()[0])


def later(days: float) -> float:
    return time.time() + days * DAY_S
