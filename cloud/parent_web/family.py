"""The signed-in parent's children: every child lookup goes through here, scoped to the parent.

A child id that exists but belongs to another family gets the same 404 as one that does not
exist, so guessing ids in URLs reveals nothing (R26).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils
from flask import abort, current_app

from cloud.db import get_db
from cloud.keys.fields import open_value
from cloud.parent_web.security import parent_id

AGE_BANDS = ("3-5", "6-8", "9-12", "13-15", "16-17")
COUNTRY_NAMES = {
    "US": "United States", "GB": "United Kingdom", "AT": "Austria", "BE": "Belgium",
    "BG": "Bulgaria", "HR": "Croatia", "CY": "Cyprus", "CZ": "Czechia", "DK": "Denmark",
    "EE": "Estonia", "FI": "Finland", "FR": "France", "DE": "Germany", "GR": "Greece",
    "HU": "Hungary", "IE": "Ireland", "IT": "Italy", "LV": "Latvia", "LT": "Lithuania",
    "LU": "Luxembourg", "MT": "Malta", "NL": "Netherlands", "PL": "Poland", "PT": "Portugal",
    "RO": "Romania", "SK": "Slovakia", "SI": "Slovenia", "ES": "Spain", "SE": "Sweden",
}


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
        return COUNTRY_NAMES.get(self.country, self.country)

    @property
    def consent_age(self) -> int:
        return consent_ages()[self.country]

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


def consent_ages() -> dict[str, int]:
    return dict(current_app.config["TEDDY"].consent_ages)


def country_choices() -> list[tuple[str, str, int]]:
    ages = consent_ages()
    return sorted(((code, COUNTRY_NAMES.get(code, code), age) for code, age in ages.items()),
                  key=lambda choice: choice[1])


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
