"""Cloud configuration from the environment or a YAML file; every value has a safe default."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

# Consent age thresholds per jurisdiction (R13): below this age a parent must consent.
DEFAULT_CONSENT_AGES = {
    "US": 13, "GB": 13, "BE": 13, "DK": 13, "EE": 13, "FI": 13, "LV": 13, "MT": 13, "PT": 13,
    "SE": 13, "AT": 14, "BG": 14, "CY": 14, "ES": 14, "IT": 14, "LT": 14, "CZ": 15, "FR": 15,
    "GR": 15, "SI": 15, "DE": 16, "HR": 16, "HU": 16, "IE": 16, "LU": 16, "NL": 16, "PL": 16,
    "RO": 16, "SK": 16,
}


@dataclass
class CloudConfig:
    db_path: str = "teddy-cloud.db"
    secret_key: str = ""
    clock_file: str | None = None
    notice_version: int = 1
    purge_interval_s: float = 3600.0
    inactive_profile_days: int = 180
    backup_dir: str | None = None
    session_cookie_secure: bool = False
    login_attempts_per_15_min: int = 5
    pairing_attempts_per_15_min: int = 10
    # Across all addresses: rotating addresses must not multiply a guesser's tries.
    pairing_attempts_global_per_15_min: int = 200
    # How long a parent's "Delete everything" works before answering; the rest of the erasure
    # (backups, proof) is finished by the server's background runner (R32).
    erasure_request_budget_s: float = 5.0
    # Off only to freeze an erasure half-way in a scenario; the next start finishes it.
    erasure_runner: bool = True
    consent_ages: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CONSENT_AGES))

    @classmethod
    def from_sources(cls, path: str | None = None, **overrides: Any) -> CloudConfig:
        values: dict[str, Any] = {}
        if path:
            loaded = yaml.safe_load(Path(path).read_text("utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the configuration must be a mapping")
            values.update(loaded)
        known = {f.name: f for f in fields(cls)}
        for name, spec in known.items():
            env = os.environ.get(f"TEDDY_{name.upper()}")
            if env is not None and spec.type in ("int", "float", "bool", "str", "str | None"):
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        config = cls(**values)
        config._coerce()
        if not config.secret_key:
            config.secret_key = _persistent_secret(config.db_path)
        return config

    def _coerce(self) -> None:
        self.notice_version = int(self.notice_version)
        self.purge_interval_s = float(self.purge_interval_s)
        self.inactive_profile_days = int(self.inactive_profile_days)
        self.login_attempts_per_15_min = int(self.login_attempts_per_15_min)
        self.pairing_attempts_per_15_min = int(self.pairing_attempts_per_15_min)
        self.pairing_attempts_global_per_15_min = int(self.pairing_attempts_global_per_15_min)
        self.erasure_request_budget_s = float(self.erasure_request_budget_s)
        if isinstance(self.erasure_runner, str):
            self.erasure_runner = self.erasure_runner.lower() in ("1", "true", "yes")
        if isinstance(self.session_cookie_secure, str):
            self.session_cookie_secure = self.session_cookie_secure.lower() in ("1", "true", "yes")


def _persistent_secret(db_path: str) -> str:
    """One key per database, so sessions survive a restart and every worker agrees on it."""
    key_path = Path(f"{db_path}.key")
    if key_path.exists():
        return key_path.read_text("utf-8").strip()
    key = secrets.token_hex(32)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
