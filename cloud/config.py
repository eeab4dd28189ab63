"""Cloud configuration from the environment or a YAML file, validated strictly.

Every value has a safe default. A value that does not parse (TEDDY_SESSION_COOKIE_SECURE=ture,
a consent age that is not a whole number) is an error naming where it came from, never silently
replaced by the default. Precedence: command-line options, then TEDDY_* variables, then the
YAML file, then the defaults.
"""

from __future__ import annotations

import json
import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

ENV_PREFIX = "TEDDY_"

# Consent age thresholds per jurisdiction (R13): below this age a parent must consent.
DEFAULT_CONSENT_AGES = {
    "US": 13, "GB": 13, "BE": 13, "DK": 13, "EE": 13, "FI": 13, "LV": 13, "MT": 13, "PT": 13,
    "SE": 13, "AT": 14, "BG": 14, "CY": 14, "ES": 14, "IT": 14, "LT": 14, "CZ": 15, "FR": 15,
    "GR": 15, "SI": 15, "DE": 16, "HR": 16, "HU": 16, "IE": 16, "LU": 16, "NL": 16, "PL": 16,
    "RO": 16, "SK": 16,
}
COUNTRY_CODE = re.compile(r"[A-Z]{2}")

# The YAML file's values for the settings being built; a context variable keeps concurrent
# builds (tests, threads) apart.
_yaml_values: ContextVar[dict[str, Any] | None] = ContextVar("teddy_yaml_values", default=None)


class _YamlFileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_values.get() or {})


class CloudConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid",
                                      validate_default=True)

    db_path: str = "teddy-cloud.db"
    secret_key: str = ""
    clock_file: str | None = None
    notice_version: int = Field(1, ge=1)
    # 0 switches the background purge off (tests, or a purge run from cron instead).
    purge_interval_s: float = Field(3600.0, ge=0)
    inactive_profile_days: int = Field(180, ge=1)
    backup_dir: str | None = None
    # Where the per-child keys live (cloud.keys.location): never the data database. Default:
    # `<db>.child-keys` beside an SQLite file, `<database>_keys` on the same PostgreSQL server.
    key_store: str | None = None
    session_cookie_secure: bool = False
    # Reverse proxies in front of the app servers (nginx in docs/examples): how many
    # X-Forwarded-For / X-Forwarded-Proto hops to believe. 0 ignores them, so a client cannot
    # pick its own address; behind one proxy it must be 1, or every client would share the
    # proxy's address in the sign-in and pairing throttles.
    proxy_hops: int = Field(0, ge=0, le=5)
    # The address parents reach the cloud at, e.g. https://teddy.example.org: links in the
    # messages Teddy sends start with it. Unset, they start with the address each request
    # came to (the Host header, or the proxy's X-Forwarded-Host/-Proto within proxy_hops),
    # which a client chooses; set it wherever others can reach the cloud.
    public_url: str | None = None
    login_attempts_per_15_min: int = Field(5, ge=1)
    pairing_attempts_per_15_min: int = Field(10, ge=1)
    # Across all addresses: past it, each address may send only a couple of wrong codes per
    # window, so rotating addresses buys little (nobody is refused for others' guesses).
    pairing_attempts_global_per_15_min: int = Field(200, ge=1)
    # A retried intent (same message id) gets the stored reply instead of a second write
    # (cloud.device_api.processed). Off only to show, in tests, the duplicates it prevents.
    dedupe_retries: bool = True
    # How long a parent's "Delete everything" works before answering; the rest of the erasure
    # (backups, proof) is finished by the server's background runner (R32).
    erasure_request_budget_s: float = Field(5.0, ge=0)
    # Off only to freeze an erasure half-way in a scenario; the next start finishes it.
    erasure_runner: bool = True
    # Parent sign-in sessions (NIST SP 800-63B: re-authenticate after idling or a set time).
    session_idle_minutes: int = Field(30, ge=1)
    session_max_hours: int = Field(12, ge=1)
    # Named on the privacy notice: who runs this cloud and how to reach them.
    operator_name: str = Field("The Teddy testbed operator", min_length=1)
    operator_contact: str = Field("privacy@teddy.example", min_length=1)
    # NoDecode: the validator below reads both JSON and "US=13,DE=16" from the environment.
    consent_ages: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_CONSENT_AGES))
    # Every other country: Teddy knows no rule there, so it asks for a parent's verified
    # consent for every child under 18 (the usual age of majority), and says so on the pages.
    default_consent_age: int = Field(18, ge=1, le=21)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlFileSource(settings_cls)

    @field_validator("db_path")
    @classmethod
    def _a_known_database(cls, value: str) -> str:
        """An SQLite URL becomes its plain path, so that files kept beside the database are
        found beside it; anything neither SQLite nor PostgreSQL is refused, naming the forms
        accepted (cloud.storage.url)."""
        from cloud.storage.url import backend_of, sqlite_path

        return sqlite_path(value) if backend_of(value) == "sqlite" else value

    @field_validator("public_url")
    @classmethod
    def _an_origin(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname \
                or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("expected an address like https://teddy.example.org "
                             "(http or https, a host, optionally a port and a path)")
        return value.strip().rstrip("/")

    @field_validator("consent_ages", mode="before")
    @classmethod
    def _ages_from_pairs(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc}") from None
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("expected COUNTRY=AGE pairs like US=13,DE=16 or a JSON object")
            return {country.strip(): age.strip() for country, _, age in pairs}
        return value

    @field_validator("consent_ages")
    @classmethod
    def _ages_are_plausible(cls, ages: dict[str, int]) -> dict[str, int]:
        if not ages:
            raise ValueError("at least one country is needed")
        for country, age in ages.items():
            if not COUNTRY_CODE.fullmatch(country):
                raise ValueError(f"{country!r} is not a two-letter country code like US")
            if not 1 <= age <= 21:
                raise ValueError(f"{country}: consent age {age} is outside 1-21")
        return ages

    @classmethod
    def from_sources(cls, path: str | None = None, **overrides: Any) -> CloudConfig:
        """Build from a YAML file (optional), TEDDY_* variables and explicit overrides.

        Raises ValueError with one line naming the variable, file key or option at fault.
        """
        loaded: dict[str, Any] = {}
        if path:
            loaded = yaml.safe_load(Path(path).read_text("utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the configuration must be a mapping")
            unknown = set(loaded) - set(cls.model_fields)
            if unknown:
                raise ValueError(f"{path}: unknown configuration keys: "
                                 f"{', '.join(sorted(map(str, unknown)))}")
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(cls.model_fields)
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        token = _yaml_values.set(loaded)
        try:
            config = cls(**given)
        except ValidationError as exc:
            raise ValueError(_explain(exc, path, loaded, given)) from None
        except SettingsError as exc:
            raise ValueError(str(exc)) from None
        finally:
            _yaml_values.reset(token)
        # An empty secret_key is filled in by create_app from the database, where every app
        # server sharing it finds the same key (cloud.fleet.session_key).
        from cloud.keys.location import key_store_location

        # A key store that would defeat erasure is refused here, before anything is served.
        key_store_location(config.db_path, config.key_store)
        return config


def _explain(exc: ValidationError, path: str | None, loaded: dict[str, Any],
             given: dict[str, Any]) -> str:
    """One line per bad value, naming where it came from so the reader knows what to fix."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "configuration"
        variable = f"{ENV_PREFIX}{name.upper()}"
        if name in given:
            where, value = f"option {name}", given[name]
        elif variable in os.environ:
            where, value = variable, os.environ[variable]
        elif name in loaded:
            where, value = f"{path}: {name}", loaded[name]
        else:
            where, value = name, error.get("input")
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}={value!s}: {message}")
    return "; ".join(lines)
