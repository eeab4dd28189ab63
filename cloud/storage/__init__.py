"""Storage on SQLite (sqlite-utils) or PostgreSQL (psycopg): connections, migrations, queries."""

from cloud.storage.db import open_db

__all__ = ["open_db"]
