"""The parent pages in a real browser (Debian's Chromium through Playwright) against a real
`teddy cloud serve` process, with a real toy pairing and talking in between.

The whole journey runs twice, on a phone (375x812) and on a desktop (1280x800): sign up and
confirm from the mailbox, add a child, consent by card, pair a toy, let the toy talk, read the
dashboard, export, turn personalisation off (the toy's next request is refused), delete one
item, read the mailbox, the notice and the printable form, look at the account page, delete
everything, then close the account. Every page on the way must fit the screen without
sideways scrolling, give every control a touch target of at least 44x44 px, label every form
control and pass axe-core (WCAG 2.2 A and AA plus best practice) with no violation at all.
A second test does the first steps with JavaScript switched off.

axe-core comes from npm: `npm install --prefix .cache/npm axe-core` (bootstrap.sh does it).
Screenshots are taken when $TEDDY_SCREENSHOT_DIR is set (for the documentation:
`TEDDY_SCREENSHOT_DIR=docs/screenshots pytest tests/test_parent_browser.py`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from browser_helpers import AXE, AXE_TAGS, CHROMIUM, CHROMIUM_ARGS, RUN_AXE
from export_helpers import csv_values, html_values

if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

from cloud.parent_web.outbox import newest_link  # noqa: E402
from cloud.storage.db import open_db  # noqa: E402
from device.privacy.gate import EgressGate  # noqa: E402
from device.state import ToyState  # noqa: E402
from device.toy import Toy  # noqa: E402
from teddy.cloud_process import CloudProcess  # noqa: E402

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
# The narrowest phones still sold, the common one, and a large one; then a desktop.
SCREENS = {"phone-320": {"width": 320, "height": 640}, "phone-375": PHONE,
           "phone-414": {"width": 414, "height": 896}, "desktop-1280": DESKTOP}
PASSWORD = "correct horse battery staple"
MIN_TARGET_PX = 44
# Unlabelled, visible form controls on the page: each should be empty.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && el.labels.length === 0
          && !el.getAttribute('aria-label'))
  .map(el => el.name)"""
# Controls smaller than a fingertip. A radio or checkbox counts by its label, which is what a
# finger presses; a link inside running text is exempt (WCAG 2.5.8 "inline" exception).
SMALL_TARGETS = """(min) => {
  const small = [];
  const visible = el => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  // A link inside a sentence is exempt (WCAG 2.5.8); a link that is its block's whole text
  // (a back link, a child's name in a list) is a target of its own.
  const alone = a => a.parentElement && !a.closest('.error') &&
    a.parentElement.innerText.trim() === a.innerText.trim();
  const controls = [...document.querySelectorAll(
    'button, a.button, nav a, summary, select, input:not([type=hidden])'),
    ...[...document.querySelectorAll('main a:not(.button)')].filter(alone)];
  for (const el of controls) {
    let box = el;
    if (el.type === 'radio' || el.type === 'checkbox') box = el.closest('label') || el.labels[0];
    if (!box || !visible(box)) continue;
    const r = box.getBoundingClientRect();
    if (r.height < min - 0.5 || r.width < min - 0.5)
      small.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.name || '').trim()
        .slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  return small;
}"""
# Same-site links on the page: the journey visits every page they lead to.
LINKS = """() => [...document.querySelectorAll('a[href]')]
  .filter(a => a.origin === location.origin && a.pathname.startsWith('/parent'))
  .map(a => a.href.split('#')[0])"""
# A form's error summary (issue 27.5): the browser has moved to it, so it is on screen on a long
# form, and each of its links leads to a message on the page.
ERROR_SUMMARY = """() => {
  const box = document.querySelector('.error[role=alert]');
  if (!box) return [];
  const problems = [];
  if (document.activeElement !== box) problems.push('error summary not focused');
  const r = box.getBoundingClientRect();
  if (r.bottom < 0 || r.top > innerHeight) problems.push('error summary off-screen');
  for (const a of box.querySelectorAll('a[href^="#"]'))
    if (!document.getElementById(decodeURIComponent(a.hash.slice(1))))
      problems.push('error link to a missing ' + a.hash);
  return problems;
}"""
# Downloads are not pages; signing out would end the journey early.
SKIPPED_LINKS = re.compile(r"\.(json|csv)$|/logout$")


@dataclass(frozen=True)
class Heard:
    """What the toy's recogniser yields; the rest of the toy's path is the real one."""

    text: str
    intent: str
    slots: dict[str, str | int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    folder = tmp_path_factory.mktemp("cloud")
    with CloudProcess(folder / "cloud.db") as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Checks:
    """Everything asked of every page, with a full-page screenshot of each page for the report.

    Screenshots go to the test's own folder (pytest's tmp dir, listed in the report through
    `record_property`) and, when $TEDDY_SCREENSHOT_DIR is set, the chosen ones go there too
    for the documentation.
    """

    def __init__(self, page: Any, width: int, report_dir: Path | None = None,
                 record: Any = None) -> None:
        self.page = page
        self.width = width
        folder = os.environ.get("TEDDY_SCREENSHOT_DIR")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.report_dir = report_dir
        if report_dir:
            report_dir.mkdir(parents=True, exist_ok=True)
        self.record = record
        self.seen: list[str] = []
        self.visited: set[str] = set()
        self.linked: dict[str, str] = {}
        # Collected over the whole journey, so one run lists every page's problems.
        self.problems: list[str] = []

    def __call__(self, name: str, shot: bool = False) -> None:
        page = self.page
        where = f"{name} at {self.width}px"
        before = len(self.problems)
        # A click that submits a form may still be loading the next page.
        page.wait_for_load_state("load")
        page.wait_for_function("() => document.documentElement !== null && document.body")
        # A phone browser widens its layout viewport to fit a too-wide page, so innerWidth
        # alone would hide the overflow: both are compared with the screen's own width.
        scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        if scroll > self.width or inner > self.width or scroll > inner:
            self.problems.append(f"{where}: {scroll} px wide in a {self.width} px screen "
                                 f"(layout viewport {inner} px)")
        self.problems += [f"{where}: {p}" for p in page.evaluate(ERROR_SUMMARY)]
        self.problems += [f"{where}: unlabelled {n}" for n in page.evaluate(UNLABELLED)]
        self.problems += [f"{where}: small target {t}"
                          for t in page.evaluate(SMALL_TARGETS, MIN_TARGET_PX)]
        if not page.evaluate("() => typeof axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        self.problems += [f"{where}: axe {v}" for v in page.evaluate(RUN_AXE, AXE_TAGS)]
        self.seen.append(name)
        self.visited.add(_path_of(page.url))
        for href in page.evaluate(LINKS):
            self.linked.setdefault(_path_of(href), href)
        print(*self.problems[before:], sep="\n")   # shown if a later step fails
        if self.report_dir:
            picture = self.report_dir / f"{len(self.seen):02d}-{name}-{self.width}.png"
            page.screenshot(path=str(picture), full_page=True)
            if self.record:
                self.record(f"screenshot {name}", str(picture))
        if shot and self.folder:
            page.screenshot(path=str(self.folder / f"{name}-{self.width}.png"), full_page=True)

    def unvisited_links(self) -> list[str]:
        """Pages linked from a page on the way that the journey has not checked yet."""
        return [href for path, href in self.linked.items()
                if path not in self.visited and not SKIPPED_LINKS.search(path)]


def _path_of(url: str) -> str:
    return urlsplit(url).path


def confirm_link(cloud: CloudProcess, email: str, kind: str) -> str:
    """Read the simulated e-mail as the parent's own mail program would."""
    link = newest_link(open_db(cloud.db_path), email, kind)
    assert link, f"no {kind} e-mail for {email}"
    return cloud.url + link


def test_axe_core_is_installed() -> None:
    assert AXE.is_file(), ("axe-core is missing: run `npm install --prefix .cache/npm axe-core` "
                           "(bootstrap.sh does this)")


@pytest.mark.slow("a whole parent journey in Chromium with axe-core on every page, per screen")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_parent_journey_fits_every_screen_and_passes_axe(  # type: ignore[no-untyped-def]
        cloud: CloudProcess, browser, screen: str, tmp_path: Path, record_property) -> None:
    assert AXE.is_file(), "axe-core is missing (see test_axe_core_is_installed)"
    viewport = SCREENS[screen]
    phone = screen.startswith("phone")
    context = browser.new_context(viewport=viewport, accept_downloads=True, bypass_csp=True,
                                  has_touch=phone, is_mobile=phone)
    page = context.new_page()
    check = Checks(page, viewport["width"], tmp_path / "screenshots", record_property)
    record_property("screenshots", str(tmp_path / "screenshots"))
    base = cloud.url + "/parent"
    email = f"robin{viewport['width']}@example.org"

    # Sign up: the same answer for any address; the link comes by e-mail.
    page.goto(f"{base}/signup")
    check("signup", shot=True)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("1234567890")
    page.get_by_role("button", name="Create account").click()
    assert "run of keys" in page.locator("#password-error").inner_text()
    assert "run of keys" in page.locator("#error-summary").inner_text()
    check("signup-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your e-mail").wait_for(timeout=15000)
    check("mail-sent")
    page.goto(confirm_link(cloud, email, "/parent/signup/confirm/"))
    check("confirm-signup")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.get_by_role("heading", name="Your family").wait_for(timeout=15000)
    check("home")

    # Add a child.
    page.get_by_role("link", name="Add a child").click()
    check("add-child", shot=True)
    page.get_by_label("First name").fill("Emma")
    page.get_by_label("Age").select_option("6-8")
    page.get_by_label("Country you live in").select_option("US")
    page.get_by_role("button", name="Add child").click()
    assert "Consent age in United States: 13" in page.inner_text("main")
    child_url = page.url
    check("child-new")

    # Consent: nothing pre-selected; allow three purposes, decline sharing, verify by card.
    page.get_by_role("link", name="Choose what Teddy may do").click()
    assert page.locator("input[type=radio]:checked").count() == 0
    check("consent", shot=True)
    for purpose in ("core", "personalisation", "history"):
        page.locator(f"#choice-{purpose}").get_by_label("Allow", exact=True).check()
    page.locator("#choice-third_party").get_by_label("Don't allow").check()
    page.get_by_label("Payment card check").check()
    page.get_by_role("button", name="Save my choices").click()
    check("verify-card")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name="Verify and allow").click()
    main = page.inner_text("main")
    assert "Charged $0.50 to the card ending 4242" in main and "Refunded $0.50" in main
    check("child", shot=True)

    # Pair a toy with the code on the page; reloading the page shows a page, not an error.
    page.get_by_role("button", name="Pair a toy").click()
    code = page.locator("#pairing-code").inner_text()
    check("pairing-code", shot=True)
    reloaded = page.reload()
    assert reloaded is not None and reloaded.status == 200
    check("pairing-reloaded")
    gate = EgressGate(ToyState(tmp_path / "toy"))
    gate.pair(cloud.url, code)
    assert gate.policy.purposes == {"core", "personalisation", "history"}
    toy = Toy(gate)

    # The toy talks; what it sent shows up on the dashboard in plain words.
    said_name = toy.respond(Heard("my name is ada", "share_name", {"child_name": "ada"}))
    assert said_name.answered_by == "cloud" and said_name.status == 200
    story = toy.respond(Heard("tell me a story about dragons", "tell_story",
                              {"topic": "dragons"}))
    assert story.personalised and "Ada" in story.reply
    page.goto(child_url + "/data")
    check("dashboard", shot=True)
    known = page.locator("#what-teddy-knows").inner_text()
    assert "Name: ada" in known.replace("\n", " ") or "Name\nada" in known
    assert "dragons" in page.inner_text("main")

    # Export as JSON.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as JSON").click()
    exported = json.loads(Path(download_info.value.path()).read_text("utf-8"))
    held = {v["value"] for r in exported["records"] for v in r["values"]}
    assert {"ada", "dragons", "Emma"} <= held

    # The readable exports (issue 27.4): a CSV download and a printable page, holding the same.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    from_csv = csv_values(Path(download_info.value.path()).read_text("utf-8"))
    assert {"ada", "dragons", "Emma"} <= {held[3] for held in from_csv}
    page.get_by_role("link", name="Printable page").click()
    check("export-page", shot=True)
    assert {"ada", "dragons", "Emma"} <= {held[3] for held in html_values(page.content())}
    # Its inline style runs (allowed by its hash), so the page is laid out, not bare text.
    assert page.evaluate("() => getComputedStyle(document.querySelector('main')).maxWidth") \
        == "768px"

    # Turn personalisation off: the toy's very next request for it is refused.
    page.goto(child_url)
    page.locator('[data-purpose="personalisation"]').get_by_role(
        "link", name="Turn off personalisation…").click()
    assert "The first name Emma is erased too" in page.inner_text("main")
    check("confirm-off", shot=True)
    page.get_by_role("button", name="Turn off and erase").click()
    assert "Personalisation is off" in page.inner_text("main")
    check("turned-off")
    again = toy.respond(Heard("my name is ada", "share_name", {"child_name": "ada"}))
    assert again.status == 403 and again.answered_by == "toy"

    # Delete one history item.
    page.goto(child_url + "/data")
    history = page.locator('#what-teddy-knows .record[data-table="intent_events"]')
    before = history.count()
    history.first.get_by_role("button").click()
    # A receipt for the one item (issue 27.5): the kind of data, no name, no value.
    receipt = page.inner_text("main")
    assert "Deleted" in receipt and "What the child asked the toy for" in receipt
    assert "Emma" not in receipt and "dragons" not in receipt
    check("item-receipt", shot=True)
    page.get_by_role("link", name="Back to the data page").click()
    assert history.count() == before - 1
    check("dashboard-after-delete")

    # The mailbox, the notice, the printable form, the account page, sign-out page.
    for name, path in (("mailbox", "/outbox"), ("notice", "/notice"),
                       ("consent-form", child_url.split("/parent", 1)[1] + "/consent-form"),
                       ("account", "/account"), ("logout", "/logout")):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        check(name, shot=name in ("notice", "account"))

    # Every other page a link on the way leads to: the journey is not a fixed list.
    while check.unvisited_links():
        href = check.unvisited_links()[0]
        response = page.goto(href)
        assert response is not None and response.status == 200, href
        check("linked-" + _path_of(href).removeprefix("/parent").strip("/").replace("/", "-"))

    # Delete everything, get a receipt, and see it all gone.
    page.goto(child_url + "/delete")
    check("delete")
    page.get_by_label("Type DELETE to confirm").fill("DELETE")
    page.get_by_role("button", name="Delete everything now").click()
    receipt_id = page.locator("#receipt").get_attribute("data-receipt-id")
    assert receipt_id and receipt_id.startswith("erasure-")
    # "ada" as a word: the receipt's hexadecimal audit hash may hold the letters by chance.
    assert "Emma" not in page.content() and not re.search(r"\bada\b", page.inner_text("main"))
    check("receipt", shot=True)
    page.get_by_role("link", name="Printable receipt").click()
    assert receipt_id in page.inner_text("main") and "Emma" not in page.content()
    check("receipt-printable", shot=True)
    gone = page.goto(child_url + "/data")
    assert gone is not None and gone.status == 404
    check("not-found")

    # Close the account; the session is gone and the sign-in, reset pages still fit.
    page.goto(f"{base}/account")
    page.get_by_label("Your password", exact=True).fill(PASSWORD)
    page.get_by_label("Type DELETE to confirm").fill("DELETE")
    page.get_by_role("button", name="Close my account and delete everything").click()
    page.get_by_role("heading", name="Your account is closed").wait_for(timeout=15000)
    check("closed")
    for name, path in (("login", "/login"), ("forgot", "/forgot"), ("logout-signed-out",
                                                                    "/logout")):
        page.goto(base + path)
        check(name)
    assert len(check.seen) >= 25
    assert check.problems == [], "\n".join(check.problems)
    context.close()


@pytest.mark.slow("Chromium uploads a 30 MB file and a 4 MB photo to the real server")
def test_a_phone_photo_verifies_and_a_huge_file_gets_the_form_back(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path) -> None:
    """Issue 27.5 on a phone, through the production server's request loop: a country outside
    the EU, UK and US with Teddy's default rule; a 30 MB file answered on the same form; a
    4 MB phone photo with a GPS position accepted, the position kept nowhere."""
    from photo_helpers import CANARY, phone_photo

    # A cloud of its own: the module's cloud has used up its sign-ups per address (5 in 15
    # minutes) on the journeys and the test without JavaScript.
    (tmp_path / "cloud").mkdir()
    with CloudProcess(tmp_path / "cloud" / "cloud.db") as cloud:
        _photo_journey(cloud, browser, tmp_path, CANARY, phone_photo)


def _new_family_with_child(page: Any, cloud: CloudProcess, email: str, country: str) -> None:
    """Sign up, confirm from the mailbox and add a 9-12 year old: ends on the child's page."""
    page.goto(f"{cloud.url}/parent/signup")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your e-mail").wait_for(timeout=15000)
    page.goto(confirm_link(cloud, email, "/parent/signup/confirm/"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.get_by_role("link", name="Add a child").click()
    page.get_by_label("Age").select_option("9-12")
    page.get_by_label("Country you live in").select_option(country)
    page.get_by_role("button", name="Add child").click()


@pytest.mark.slow("Chromium with axe-core on the pairing page's three states, two screens")
def test_a_guessed_at_and_a_withdrawn_pairing_code_pass_axe(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path) -> None:
    """Issue 26 item 5: the parent sees wrong tries at the code and that it was withdrawn."""
    (tmp_path / "cloud").mkdir()  # a cloud of its own: sign-ups per address are limited
    with CloudProcess(tmp_path / "cloud" / "cloud.db") as cloud:
        for screen in ("phone-375", "desktop-1280"):
            viewport = SCREENS[screen]
            context = browser.new_context(viewport=viewport, bypass_csp=True,
                                          is_mobile=screen.startswith("phone"))
            page = context.new_page()
            check = Checks(page, viewport["width"], tmp_path / "screenshots")
            _new_family_with_child(page, cloud, f"guessed{viewport['width']}@example.org", "GB")
            page.get_by_role("button", name="Pair a toy").click()
            code = page.locator("#pairing-code").inner_text()
            misses = [f"{code[:5]}{a}{b}{code[7:]}" for a in "ABC" for b in "DEFGHJKMN"]
            misses = [miss for miss in misses if miss != code][:25]
            pair = cloud.url + "/api/v1/pair"
            requests.post(pair, json={"code": misses[0]}, timeout=10)
            page.reload()
            assert "1 wrong code was tried for this one" in page.inner_text("main")
            check("pairing-guessed-at")
            for miss in misses[1:]:
                requests.post(pair, json={"code": miss}, timeout=10)
            page.reload()
            assert f"Your code {code} was withdrawn" in page.inner_text("main")
            check("pairing-withdrawn")
            page.get_by_role("button", name="New code").click()
            assert page.locator("#pairing-code").inner_text() != code
            assert "wrong code" not in page.inner_text("main")
            assert check.problems == [], "\n".join(check.problems)
            context.close()


def _photo_journey(cloud: CloudProcess, browser: Any, tmp_path: Path, canary: str,
                   phone_photo: Any) -> None:
    context = browser.new_context(viewport=PHONE, bypass_csp=True, has_touch=True,
                                  is_mobile=True)
    page = context.new_page()
    check = Checks(page, PHONE["width"], tmp_path / "screenshots")
    _new_family_with_child(page, cloud, "photo@example.org", "IN")
    main = page.inner_text("main")
    assert "Consent age in India: 18" in main and "Teddy has no specific rule" in main
    check("child-default-rule", shot=True)
    page.get_by_role("link", name="Choose what Teddy may do").click()
    page.locator("#choice-core").get_by_label("Allow", exact=True).check()
    for purpose in ("personalisation", "history", "third_party"):
        page.locator(f"#choice-{purpose}").get_by_label("Don't allow").check()
    page.get_by_label("Photo ID check").check()
    page.get_by_role("button", name="Save my choices").click()
    page.get_by_label("Photo of your ID").wait_for(timeout=15000)
    check("verify-photo-id", shot=True)

    huge = tmp_path / "scan.jpg"
    huge.write_bytes(b"\xff\xd8\xff\xe0" + bytes(30 * 1024 * 1024))
    page.get_by_label("Photo of your ID").set_input_files(str(huge))
    page.get_by_role("button", name="Verify and allow").click()
    summary = page.locator("#error-summary")
    summary.wait_for(timeout=30000)
    assert "is 30 MB; files up to 15 MB are accepted" in summary.inner_text()
    assert page.get_by_label("Photo of your ID").count() == 1  # the form, not a dead end
    check("verify-too-large", shot=True)

    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(phone_photo())
    page.get_by_label("Photo of your ID").set_input_files(str(photo))
    page.get_by_role("button", name="Verify and allow").click()
    page.get_by_text("Verified by photo id check").wait_for(timeout=30000)
    assert "JPEG, 4000×3000 pixels" in page.inner_text("main")
    check("verified-by-photo")
    for path in Path(cloud.db_path).parent.iterdir():
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert check.problems == [], "\n".join(check.problems)
    context.close()


def test_the_checks_catch_a_page_that_breaks_them(browser) -> None:  # type: ignore[no-untyped-def]
    """Negative control: a page too wide, with a tiny unlabelled control and bad contrast."""
    # A phone context: its browser widens the layout viewport to fit the page, as a real
    # phone does, which an innerWidth-only check would miss.
    context = browser.new_context(viewport=PHONE, bypass_csp=True, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.set_content('<html><head><meta name="viewport" content="width=device-width">'
                     '</head><body><main><h1>x</h1><div style="width:600px">wide</div>'
                     '<input name="nolabel"><button style="height:20px;color:#ccc;'
                     'background:#fff">go</button><p><a href="/alone">Back</a></p>'
                     '<p>A sentence with <a href="/inline">a link</a> in it.</p>'
                     '</main></body></html>')
    check = Checks(page, PHONE["width"])
    check("broken")
    found = "\n".join(check.problems)
    assert "px wide in a 375 px screen" in found and "unlabelled nolabel" in found
    assert "small target button" in found and "axe color-contrast" in found
    assert "axe html-has-lang" in found
    # A link standing alone is a target; one inside a sentence is exempt (WCAG 2.5.8).
    assert 'small target a "Back"' in found and "a link" not in found
    # A long form whose error summary is neither focused nor on screen, with a dead link.
    page.set_content('<html lang="en"><body><main><h1>x</h1><div style="height:3000px"></div>'
                     '<div class="error" role="alert"><a href="#gone-error">fix</a></div>'
                     '</main></body></html>')
    check("unfocused-errors")
    found = "\n".join(check.problems)
    assert "error summary not focused" in found and "error summary off-screen" in found
    assert "error link to a missing #gone-error" in found
    context.close()


def test_pages_work_with_javascript_switched_off(cloud: CloudProcess, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{cloud.url}/parent/signup")
    page.get_by_label("E-mail address").fill("nojs@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.goto(confirm_link(cloud, "nojs@example.org", "/parent/signup/confirm/"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.get_by_role("link", name="Add a child").click()
    page.get_by_label("Age").select_option("3-5")
    page.get_by_label("Country you live in").select_option("DE")
    page.get_by_role("button", name="Add child").click()
    assert "Consent age in Germany: 16" in page.inner_text("main")
    page.get_by_role("link", name="Choose what Teddy may do").click()
    page.get_by_role("button", name="Don't allow anything").click()
    assert "Nothing is allowed" in page.inner_text("main")
    # Keyboard only: tab to the first choice and pick it with the space bar.
    page.get_by_role("link", name="Choose what Teddy may do").click()
    page.locator("#choice-core").get_by_label("Allow", exact=True).focus()
    page.keyboard.press("Space")
    assert page.locator("#choice-core").get_by_label("Allow", exact=True).is_checked()
    context.close()
