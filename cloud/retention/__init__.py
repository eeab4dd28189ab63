"""Retention and erasure: purge on a schedule and on demand, erase a child with proof, backups.

Rules R15-R21. `policy` reads retention from the data map, `purge` removes what has expired,
`erasure` removes one child everywhere and proves it from raw bytes with `proof`, and
`backup` keeps backups inside the same policy.
"""
