"""Per-child keys: crypto-shredding, so that erasing a child's key erases every copy of its
data, in backups, replicas and WAL included."""
