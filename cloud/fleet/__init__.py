"""State that every app server in front of one database must share (issue 18).

Several gunicorn servers, on one host or many, behave as one cloud only if nothing that
decides an outcome lives in a single process or beside a single file: the session key and
the purge and erasure turns live in the database, on SQLite and PostgreSQL alike.
"""
