"""What every `teddy cloud` command does before its own work: safe files, a checked database."""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import sys
from collections.abc import Callable

from cloud.storage.files import PRIVATE_UMASK, DatabaseFileError, check_database
from cloud.storage.migrations import SchemaTooNew

Handler = Callable[[argparse.Namespace], int]


def guarded(command: str, *, must_exist: bool = True) -> Callable[[Handler], Handler]:
    """Every `teddy cloud` command: files it creates are owner-only, the database is checked
    before anything is created beside it, and a bad database is one line on stderr, exit 2."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(args: argparse.Namespace) -> int:
            previous = os.umask(PRIVATE_UMASK)
            try:
                check_database(args.db, must_exist=must_exist)
                return handler(args)
            except (DatabaseFileError, SchemaTooNew) as exc:
                message = str(exc)
            except sqlite3.DatabaseError as exc:
                message = f"{args.db}: database error: {exc}"
            finally:
                os.umask(previous)
            print(f"teddy cloud {command}: {message}", file=sys.stderr)
            return 2
        return run
    return wrap
