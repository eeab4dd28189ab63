"""The signed-in parent's children: every child lookup goes through here, scoped to the parent.

A child id that exists but belongs to another family gets the same 404 as one that does not
exist, so guessing ids in URLs reveals nothing (R26).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from flask import abort, current_app

from cloud.db import get_db
from cloud.keys.fields import open_value
from cloud.parent_web.security import parent_id
from cloud.parent_web.words import iso_countries

AGE_BANDS = ("3-5", "6-8", "9-12", "13-15", "16-17")
# Names parents expect where the ISO table (`words.iso_countries`, from tzdata) uses a
# shorter or older one.
COUNTRY_NAMES = {"GB": "United Kingdom", "CZ": "Czechia", "KR": "South Korea",
                 "KP": "North Korea", "MM": "Myanmar", "SZ": "Eswatini"}


def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code) or iso_countries().get(code, code)


@dataclass(frozen=True)
class Child:
    id: int
    first_name: str | None
    age_band: str
    country: str
    created_at: float
    last_active_at: float
    # The parent's own nickname or initials for the child: kept under the account's purpose,
    # so it stays when personalisation (and with it the first name) is turned off.
    label: str | None = None

    @property
    def display_name(self) -> str:
        return self.first_name or self.label or f"Child {self.id}"

    @property
    def country_name(self) -> str:
        return country_name(self.country)

    @property
    def consent_age(self) -> int:
        return consent_rule(self.country).age

    @property
    def consent_rule(self) -> ConsentRule:
        return consent_rule(self.country)

    @property
    def below_consent_age(self) -> bool | None:
        """True if the whole age band is below the threshold, False if none of it is."""
        low, high = (int(part) for part in self.age_band.split("-"))
        if high < self.consent_age:
            return True
        if low >= self.consent_age:
            return False
        return None


_COLUMNS = "id, first_name, age_band, country, created_at, last_active_at, label"


@dataclass(frozen=True)
class ConsentRule:
    """The age below which a parent must consent, and whether it is this country's own rule
    from configuration or Teddy's stated default for countries without one."""

    age: int
    specific: bool


def consent_ages() -> dict[str, int]:
    return dict(current_app.config["TEDDY"].consent_ages)


def consent_rule(country: str) -> ConsentRule:
    ages = consent_ages()
    if country in ages:
        return ConsentRule(ages[country], True)
    return ConsentRule(current_app.config["TEDDY"].default_consent_age, False)


def known_country(code: str) -> bool:
    """Every ISO 3166-1 country, and any code the configuration gives a rule for."""
    return code in iso_countries() or code in consent_ages()


def country_choices() -> list[tuple[str, str, ConsentRule]]:
    """Every country, by name, with the rule that applies there."""
    codes = set(iso_countries()) | set(consent_ages())
    return sorted(((code, country_name(code), consent_rule(code)) for code in codes),
                  key=lambda choice: _sort_key(choice[1]))


def _sort_key(name: str) -> str:
    """Åland beside Albania, Réunion beside Romania: letters without their accents."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


def children_of(db: sqlite_utils.Database, parent: int) -> list[Child]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM children WHERE parent_id = ? ORDER BY id",
                      [parent]).fetchall()
    return [_child(db, row) for row in rows]


def owned_child(child_id: int) -> Child:
    row = get_db().execute(f"SELECT {_COLUMNS} FROM children WHERE id = ? AND parent_id = ?",
                           [child_id, parent_id()]).fetchone()
    if row is None:
        abort(404)
    return _child(get_db(), row)


def _child(db: sqlite_utils.Database, row: tuple[Any, ...]) -> Child:
    child_id, first_name, age_band, country, created_at, last_active_at, label = row
    return Child(child_id, open_value(db, child_id, "children", "first_name", first_name),
                 age_band, country, created_at, last_active_at,
                 open_value(db, child_id, "children", "label", label))
