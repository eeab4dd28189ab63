"""Small pieces of plain wording shared by the parent pages: counts, toy names, local times.

Times are shown in the time of the child's country when that country has one time zone (from
the IANA table the `tzdata` package ships), and in UTC, said so, when it has several or none.
The pages run no scripts, so the browser's own zone is not available to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo, available_timezones


@dataclass(frozen=True)
class Toy:
    """A paired toy as the parent sees it: "Toy 1", never its device id."""

    name: str
    device_id: str
    paired_at: float
    last_seen_at: float | None


def counted(n: int, one: str, many: str | None = None) -> str:
    """"1 paired toy", "2 paired toys"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _table(name: str) -> list[list[str]]:
    text = (files("tzdata") / "zoneinfo" / name).read_text("utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def iso_countries() -> dict[str, str]:
    """Every ISO 3166 country code with its short English name."""
    return {row[0]: row[1] for row in _table("iso3166.tab")}


@cache
def _zones_by_country() -> dict[str, list[tuple[str, str]]]:
    zones: dict[str, list[tuple[str, str]]] = {}
    for row in _table("zone.tab"):
        zones.setdefault(row[0], []).append((row[2], row[3] if len(row) > 3 else ""))
    return zones


def country_zone(country: str) -> ZoneInfo | None:
    """The zone nearly everyone in the country lives by: the only one, or the one the table
    calls "most of ..." or "(mainland)"; None where several share the country (US, Canada)."""
    zones = _zones_by_country().get(country, [])
    main = [name for name, comment in zones
            if len(zones) == 1 or comment.startswith("most of") or "(mainland)" in comment]
    return ZoneInfo(main[0]) if len(main) == 1 else None


def local_time(ts: float, country: str, with_time: bool = True) -> str:
    """"5 Dec 2026, 14:03" in the country's time, or "... 13:03 UTC" where that is unknown."""
    return zoned_time(ts, country_zone(country), with_time)


@cache
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name; None for no name or one the table does not know."""
    return ZoneInfo(name) if name and name in known_zones() else None


def zoned_time(ts: float, zone: ZoneInfo | None, with_time: bool = True) -> str:
    """As `local_time`, in a zone already chosen (None: UTC, said so)."""
    moment = datetime.fromtimestamp(ts, zone or UTC)
    shown = f"{moment.day} {moment:%b %Y}"
    if with_time:
        shown += f", {moment:%H:%M}" + ("" if zone else " UTC")
    return shown


def zone_words(country: str) -> str:
    """How `local_time` shows times for the country, said once on a page or a download."""
    zone = country_zone(country)
    return f"in {zone.key} time" if zone else "in UTC (the country has several time zones)"
