"""Which database the benchmark's cloud servers share: `--db` resolved to a path or URL.

- nothing: a fresh SQLite file in the bench folder, as before;
- a path or `sqlite:///` URL: that SQLite file;
- `postgresql://...`: that server and database (the bench adds families and intents to it:
  give it one you can throw away);
- `postgresql` alone: a throwaway server started for the run (cloud.storage.throwaway_postgres)
  and removed afterwards, with a fresh database per run.

The throwaway server runs with fsync on and synchronous_commit off: a commit may be lost in a
power cut but the database never corrupts, which is the durability SQLite's WAL mode with
synchronous=NORMAL gives the cloud. Figures compare like with like.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path

from cloud.storage.throwaway_postgres import ThrowawayPostgres
from cloud.storage.url import backend_of, redacted, sqlite_path

THROWAWAY = "postgresql"
_run_numbers = itertools.count(1)


@dataclass(frozen=True)
class BenchDatabase:
    url: str        # what the servers get as --db
    backend: str    # "sqlite" or "postgresql"
    label: str      # what the figures call it; never contains a password


def check_spec(spec: str | None) -> str | None:
    """A one-line problem with a --db value, or None if it is usable."""
    if spec is None or spec == THROWAWAY:
        return None
    try:
        backend_of(spec)
    except ValueError as exc:
        return str(exc)
    return None


class DatabaseSource:
    """Hands out one fresh database per run; a throwaway server lives as long as this does."""

    def __init__(self, spec: str | None) -> None:
        problem = check_spec(spec)
        if problem:
            raise ValueError(problem)
        self.spec = spec
        self._server: ThrowawayPostgres | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DatabaseSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def fresh(self, directory: Path, name: str = "bench-cloud") -> BenchDatabase:
        if self.spec is None:
            path = directory / f"{name}.db"
            return BenchDatabase(str(path), "sqlite", "sqlite")
        if self.spec == THROWAWAY:
            if self._server is None:
                self._server = ThrowawayPostgres(fsync=True).start()
                self._stack.callback(self._server.stop)
            database = f"{name.replace('-', '_')}_{next(_run_numbers)}"
            url = self._server.create_database(database)
            self._server.psql(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
            return BenchDatabase(url, "postgresql", "postgresql (throwaway)")
        if backend_of(self.spec) == "sqlite":
            path = sqlite_path(self.spec)
            return BenchDatabase(path, "sqlite", f"sqlite {path}")
        return BenchDatabase(self.spec, "postgresql", f"postgresql {redacted(self.spec)}")
