"""Which database a `--db` / `db_path` value names: an SQLite file or a PostgreSQL server.

Accepted forms:
- a plain path (`teddy-cloud.db`, `/var/lib/teddy/cloud.db`) or `:memory:`: SQLite, as always;
- `sqlite:///relative/path.db` and `sqlite:////absolute/path.db`: SQLite, with the slashes
  read as SQLAlchemy reads them (three for the URL, then the path);
- `postgresql://...` or `postgres://...`: PostgreSQL, passed to libpq as given.

Anything else with a scheme (`mysql://`, `sqlite:/x`, a typo) is a ValueError naming the
accepted forms: a wrong value must never silently become an SQLite file called `mysql:`.
This module is the only place that decides; everything else asks `backend_of`.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Backend = Literal["sqlite", "postgresql"]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
# A scheme followed by a colon: RFC 3986's grammar, at least two letters so that a Windows
# drive (C:) would not count; Teddy runs on Linux, but the rule costs nothing.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
ACCEPTED = ("a file path, sqlite:///path (sqlite:////absolute/path), or "
            "postgresql://user@host/database")


def _scheme(db_path: str) -> str | None:
    match = _SCHEME.match(db_path)
    return match.group(1).lower() if match else None


def backend_of(db_path: str) -> Backend:
    """"sqlite" or "postgresql"; ValueError for anything that is neither."""
    if not isinstance(db_path, str) or not db_path.strip():
        raise ValueError(f"no database given; expected {ACCEPTED}")
    scheme = _scheme(db_path)
    if scheme is None:
        return "sqlite"
    if scheme in POSTGRES_SCHEMES:
        if not db_path.lower().startswith(tuple(f"{s}://" for s in POSTGRES_SCHEMES)):
            raise ValueError(f"{redacted(db_path)} is not a PostgreSQL URL; expected "
                             "postgresql://user@host/database")
        return "postgresql"
    if scheme == "sqlite":
        sqlite_path(db_path)  # raises for a malformed SQLite URL
        return "sqlite"
    raise ValueError(f"unsupported database {redacted(db_path)!r} (scheme {scheme}:); "
                     f"expected {ACCEPTED}")


def sqlite_path(db_path: str) -> str:
    """The SQLite file (or ":memory:") a plain path or `sqlite:///` URL names.

    ValueError for a PostgreSQL URL or anything that is not SQLite.
    """
    scheme = _scheme(db_path) if isinstance(db_path, str) else None
    if scheme is None:
        backend_of(db_path)  # raises for an empty value
        return db_path
    if scheme != "sqlite":
        raise ValueError(f"{redacted(db_path)} is not an SQLite database")
    if not db_path.startswith(SQLITE_PREFIX):
        raise ValueError(f"{db_path!r} is not an SQLite URL; write sqlite:///relative/path "
                         f"or sqlite:////absolute/path")
    path = db_path[len(SQLITE_PREFIX):]
    if not path:
        raise ValueError(f"{db_path!r} names no file; write sqlite:///relative/path or "
                         f"sqlite:////absolute/path")
    if "?" in path or "#" in path:
        raise ValueError(f"{db_path!r}: SQLite URLs here take no options")
    return path


def is_postgres(db_path: str) -> bool:
    return backend_of(db_path) == "postgresql"


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def redacted(db_path: str) -> str:
    """The value with any password in a URL (user:password@ or ?password=) replaced by ***,
    fit for logs and errors."""
    db_path = _QUERY_PASSWORD.sub(r"\1***", db_path)
    try:
        parts = urlsplit(db_path)
    except ValueError:
        return "<unparseable database URL>"
    if parts.password is None:
        return db_path
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    host = netloc[1] if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
