"""SQLite storage through sqlite-utils: connection settings, migrations, queries."""

from cloud.storage.db import open_db

__all__ = ["open_db"]
