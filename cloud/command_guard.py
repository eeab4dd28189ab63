"""What every `teddy cloud` command does before its own work: safe files, a checked database."""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import sys
from collections.abc import Callable

import psycopg

from cloud.storage.files import PRIVATE_UMASK, DatabaseFileError, check_database
from cloud.storage.migrations import SchemaTooNew
from cloud.storage.url import redacted


class SqliteOnly(Exception):
    """A command that works on an SQLite file was given a PostgreSQL database; the message
    names what to use instead."""


def plain_database_arg(db: str) -> str:
    """`--db` as the rest of the command uses it: an SQLite URL as its file's path, a
    PostgreSQL URL as given; ValueError (one sentence) for anything else."""
    from cloud.storage.url import backend_of, sqlite_path

    return sqlite_path(db) if backend_of(db) == "sqlite" else db


def require_sqlite(db: str, command: str, instead: str) -> None:
    """Raise SqliteOnly (exit 2, one line) unless `db` names an SQLite database."""
    from cloud.storage.url import backend_of

    if backend_of(db) != "sqlite":
        raise SqliteOnly(f"{command} works on SQLite database files only; on PostgreSQL "
                         f"{instead}")

Handler = Callable[[argparse.Namespace], int]


def guarded(command: str, *, must_exist: bool = True) -> Callable[[Handler], Handler]:
    """Every `teddy cloud` command: files it creates are owner-only, the database is checked
    before anything is created beside it, and a bad database is one line on stderr, exit 2."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(args: argparse.Namespace) -> int:
            try:
                args.db = plain_database_arg(args.db)
            except ValueError as exc:
                print(f"teddy cloud {command}: {exc}", file=sys.stderr)
                return 2
            previous = os.umask(PRIVATE_UMASK)
            try:
                check_database(args.db, must_exist=must_exist)
                return handler(args)
            except (DatabaseFileError, SchemaTooNew) as exc:
                message = str(exc)
            except sqlite3.DatabaseError as exc:
                message = f"{args.db}: database error: {exc}"
            except psycopg.Error as exc:
                message = f"{redacted(args.db)}: database error: {exc}"
            except SqliteOnly as exc:
                message = str(exc)
            finally:
                os.umask(previous)
            print(f"teddy cloud {command}: {message}", file=sys.stderr)
            return 2
        return run
    return wrap
