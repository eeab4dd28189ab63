"""Where each purpose stands for one child: on, off, or suspended by a newer notice (R11)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlite_utils

from cloud.notices import categories, consent_still_covers, notice_versions
from teddy.contracts.data_map import Purpose, data_map

State = Literal["on", "off", "suspended"]


@dataclass(frozen=True)
class PurposeStatus:
    purpose: Purpose
    state: State
    categories: tuple[str, ...]
    new_categories: tuple[str, ...]
    granted_at: float | None = None
    method: str | None = None
    notice_version: int | None = None

    @property
    def name(self) -> str:
        return self.purpose.name


def consentable_purposes(notice_version: int) -> list[Purpose]:
    """Purposes a parent is asked about under this notice, in the data map's order."""
    in_notice = notice_versions().get(notice_version, {})
    return [data_map().purposes[name] for name in data_map().consentable_purposes
            if name in in_notice]


def purpose_statuses(db: sqlite_utils.Database, child_id: int,
                     notice_version: int) -> list[PurposeStatus]:
    rows = db.execute(
        "SELECT purpose, granted_at, method, notice_version FROM consents "
        "WHERE child_id = ? AND revoked_at IS NULL",
        [child_id],
    ).fetchall()
    current = {purpose: (granted_at, method, given) for purpose, granted_at, method, given in rows}
    statuses = []
    for purpose in consentable_purposes(notice_version):
        now_cats = categories(purpose.name, notice_version)
        if purpose.name not in current:
            statuses.append(PurposeStatus(purpose, "off", tuple(sorted(now_cats)), ()))
            continue
        granted_at, method, given = current[purpose.name]
        if consent_still_covers(purpose.name, given, notice_version):
            statuses.append(PurposeStatus(purpose, "on", tuple(sorted(now_cats)), (),
                                          granted_at, method, given))
        else:
            added = tuple(sorted(now_cats - categories(purpose.name, given)))
            statuses.append(PurposeStatus(purpose, "suspended", tuple(sorted(now_cats)), added,
                                          granted_at, method, given))
    return statuses
