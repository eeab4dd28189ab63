"""Every ISO 3166-1 country can be chosen; the rule that applies there is shown (issue 27.5)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from cloud_helpers import db_for
from parent_web_helpers import add_child, fast_app, signup, submit, visible_text

from cloud.parent_web.words import iso_countries


def _options(form: str) -> dict[str, str]:
    select = form[form.index('<select id="country"'):]
    select = select[:select.index("</select>")]
    return {code: html.unescape(label) for code, label in
            re.findall(r'<option value="([A-Z]{2})" >([^<]+)</option>', select)}


def default_rule_said(page: str, country: str, age: int) -> bool:
    """Does the child's page say that Teddy's default, not a national rule, applies?"""
    return (f"Teddy has no specific rule for {country}, so it applies its default: a parent's "
            f"verified consent for every child under {age}.") in visible_text(page)


def test_the_form_offers_every_country_with_its_rule(tmp_path: Path) -> None:
    client = fast_app(tmp_path).test_client()
    signup(client, "world@example.org")
    form = client.get("/parent/children/new").get_data(as_text=True)
    options = _options(form)
    assert set(options) == set(iso_countries()) and len(options) >= 249
    assert options["DE"] == "Germany (parental consent under 16)"
    assert options["GB"] == "United Kingdom (parental consent under 13)"
    assert options["IN"] == "India (parental consent under 18, Teddy's default)"
    assert options["KR"] == "South Korea (parental consent under 18, Teddy's default)"
    # Sorted by name, as a parent scans the list.
    codes = list(options)
    assert codes.index("AX") < codes.index("AL") < codes.index("DZ")  # Åland, Albania, Algeria
    assert codes.index("RE") < codes.index("RO")  # Réunion, Romania
    assert "for every child under 18" in visible_text(form)


def test_a_country_outside_eu_uk_us_can_be_chosen_and_its_rule_is_shown(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    signup(client, "india@example.org")
    child_id = add_child(client, "Asha", "13-15", "IN")
    assert db_for(app).execute("SELECT country FROM children WHERE id = ?",
                               [child_id]).fetchone()[0] == "IN"
    page = client.get(f"/parent/children/{child_id}").get_data(as_text=True)
    assert "Consent age in India: 18" in visible_text(page)
    assert default_rule_said(page, "India", 18)
    assert "Country: India" in visible_text(client.get(f"/parent/children/{child_id}/data")
                                     .get_data(as_text=True))


def test_negative_control_a_configured_country_shows_its_own_rule(tmp_path: Path) -> None:
    client = fast_app(tmp_path).test_client()
    signup(client, "berlin@example.org")
    child_id = add_child(client, "Lena", "9-12", "DE")
    page = client.get(f"/parent/children/{child_id}").get_data(as_text=True)
    assert "Consent age in Germany: 16" in visible_text(page)
    assert not default_rule_said(page, "Germany", 16)
    assert not default_rule_said(page, "Germany", 18)


def test_the_default_comes_from_configuration(tmp_path: Path) -> None:
    client = fast_app(tmp_path, default_consent_age=16, consent_ages={"US": 13}).test_client()
    signup(client, "config@example.org")
    child_id = add_child(client, "", "6-8", "FR")
    page = client.get(f"/parent/children/{child_id}").get_data(as_text=True)
    assert "Consent age in France: 16" in visible_text(page)
    assert default_rule_said(page, "France", 16)


def test_a_code_that_is_no_country_is_refused_and_the_form_kept(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    signup(client, "nowhere@example.org")
    answer = submit(client, "/parent/children/new",
                    {"first_name": "Mia", "age_band": "6-8", "country": "XX"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "Choose the country you live in." in visible_text(page)
    assert 'value="Mia"' in page and '<option value="6-8" selected>' in page
    assert db_for(app).execute("SELECT count(*) FROM children").fetchone()[0] == 0
