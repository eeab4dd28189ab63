"""The parent pages in a real browser (Debian's Chromium through Playwright) against a real
`teddy cloud serve` process, with a real toy pairing and talking in between.

The story: sign up, add a child, consent by card, pair a toy, let the toy talk, see what it
said on the dashboard, export it, turn personalisation off (the toy's next request is refused),
delete one item, delete everything, see it gone. Every page visited is checked for labelled
form controls. A second test does the first steps with JavaScript switched off.

Screenshots are taken only when $TEDDY_SCREENSHOT_DIR is set (docs/screenshots for the
documentation: `TEDDY_SCREENSHOT_DIR=docs/screenshots pytest tests/test_parent_browser.py`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

from device.privacy.gate import EgressGate  # noqa: E402
from device.state import ToyState  # noqa: E402
from device.toy import Toy  # noqa: E402
from teddy.cloud_process import CloudProcess  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
EMAIL = "robin@example.org"
PASSWORD = "correct horse battery staple"
# Unlabelled, visible form controls on the page: each should be empty.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && el.labels.length === 0
          && !el.getAttribute('aria-label'))
  .map(el => el.name)"""


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
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Shots:
    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, full_page: bool = False) -> None:  # type: ignore[no-untyped-def]
        if self.folder:
            page.screenshot(path=str(self.folder / f"{name}.png"), full_page=full_page)


@pytest.fixture
def shots() -> Shots:
    return Shots(os.environ.get("TEDDY_SCREENSHOT_DIR"))


def labelled(page) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate(UNLABELLED) == [], page.url


def test_parent_story_in_a_real_browser(cloud: CloudProcess, browser, shots: Shots,  # type: ignore[no-untyped-def]
                                        tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    base = cloud.url + "/parent"

    # Sign up.
    page.goto(f"{base}/signup")
    labelled(page)
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    shots.take(page, "signup")
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("heading", name="Your family").is_visible()

    # Add a child.
    page.get_by_role("link", name="Add a child").click()
    labelled(page)
    page.get_by_label("First name").fill("Emma")
    page.get_by_label("Age").select_option("6-8")
    page.get_by_label("Country you live in").select_option("US")
    shots.take(page, "add-child")
    page.get_by_role("button", name="Add child").click()
    assert "Consent age in United States: 13" in page.inner_text("main")
    child_url = page.url

    # Consent: nothing pre-selected; allow three purposes, decline sharing, verify by card.
    page.get_by_role("link", name="Choose what Teddy may do").click()
    labelled(page)
    assert page.locator("input[type=radio]:checked").count() == 0
    for purpose in ("core", "personalisation", "history"):
        page.locator(f"#choice-{purpose}").get_by_label("Allow", exact=True).check()
    page.locator("#choice-third_party").get_by_label("Don't allow").check()
    page.get_by_label("Payment card check").check()
    shots.take(page, "consent", full_page=True)
    page.get_by_role("button", name="Save my choices").click()
    labelled(page)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("Security code").fill("123")
    shots.take(page, "verify-card")
    page.get_by_role("button", name="Verify and allow").click()
    main = page.inner_text("main")
    assert "Charged $0.50 to the card ending 4242" in main and "Refunded $0.50" in main
    shots.take(page, "child", full_page=True)

    # Pair a toy with the code on the page.
    page.get_by_role("button", name="Pair a toy").click()
    code = page.locator("#pairing-code").inner_text()
    shots.take(page, "pairing-code")
    gate = EgressGate(ToyState(tmp_path / "toy"))
    gate.pair(cloud.url, code)
    assert gate.policy.purposes == {"core", "personalisation", "history"}
    toy = Toy(gate)

    # The toy talks; what it sent shows up on the dashboard.
    said_name = toy.respond(Heard("my name is ada", "share_name", {"child_name": "ada"}))
    assert said_name.answered_by == "cloud" and said_name.status == 200
    story = toy.respond(Heard("tell me a story about dragons", "tell_story",
                              {"topic": "dragons"}))
    assert story.personalised and "Ada" in story.reply
    page.goto(child_url + "/data")
    labelled(page)
    values = page.locator("td.value").all_inner_texts()
    assert "ada" in values and "dragons" in values
    assert page.locator('tr[data-table="profile_facts"][data-field="value"]'
                        '[data-category="child.name"]').count() == 1
    shots.take(page, "dashboard", full_page=True)

    # Export as JSON.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as JSON").click()
    exported = json.loads(Path(download_info.value.path()).read_text("utf-8"))
    held = {v["value"] for r in exported["records"] for v in r["values"]}
    assert {"ada", "dragons", "Emma"} <= held

    # Turn personalisation off: the toy's very next request for it is refused.
    page.locator('li[data-purpose="personalisation"]').get_by_role(
        "button", name="Turn off").click()
    assert "Personalisation is off" in page.inner_text("main")
    again = toy.respond(Heard("my name is ada", "share_name", {"child_name": "ada"}))
    assert again.status == 403 and again.answered_by == "toy"
    assert "personalisation" not in gate.policy.purposes

    # Delete one history item.
    history = page.locator('section[data-table="intent_events"]')
    before = history.locator("tbody.record").count()
    history.get_by_role("button", name="Delete this item").first.click()
    assert "Deleted." in page.inner_text("main")
    assert page.locator('section[data-table="intent_events"] tbody.record').count() == before - 1

    # The mailbox and the notice, for the documentation.
    page.goto(f"{base}/notice")
    shots.take(page, "notice", full_page=True)

    # Delete everything, get a receipt, and see it all gone.
    page.goto(child_url + "/delete")
    labelled(page)
    page.get_by_label("Type DELETE to confirm").fill("DELETE")
    page.get_by_role("button", name="Delete everything now").click()
    receipt_id = page.locator("#receipt").get_attribute("data-receipt-id")
    assert receipt_id and receipt_id.startswith("erasure-")
    assert "Emma" not in page.content() and "ada" not in page.inner_text("main")
    shots.take(page, "receipt", full_page=True)
    gone = page.goto(child_url + "/data")
    assert gone is not None and gone.status == 404
    page.goto(f"{base}/")
    assert "Emma" not in page.inner_text("main")
    context.close()


def test_pages_work_with_javascript_switched_off(cloud: CloudProcess, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{cloud.url}/parent/signup")
    page.get_by_label("E-mail address").fill("nojs@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
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
