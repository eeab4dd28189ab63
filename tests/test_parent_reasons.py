"""The notice and the dashboard give one reason for keeping the child's record and paired toys,
and the notice says plainly who provides Teddy's content (issue 27, item 5)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
from cloud_helpers import db_for, pair_toy
from markupsafe import escape as html_escape
from parent_web_helpers import add_child, consent_by_card, fast_app, signup, visible_text

from cloud.parent_web.notice_facts import RECORD_NAMES
from teddy.contracts.data_map import data_map

# Which dashboard group shows which table's records.
GROUP_OF_TABLE = {"children": "record", "devices": "toys"}
CONTENT_SOURCE = ("There is no such partner today: Teddy's stories, songs and jokes are its own, "
                  "shipped with Teddy, and nothing about your child leaves this service")



def notice_reason(notice: str, table: str) -> str | None:
    """The reason the notice's retention table gives beside this table's records."""
    for name, why in re.findall(r'<th scope="row">([^<]*)<span class="why" data-kept-because>'
                                r"(.*?)</span>", notice, re.S):
        if html.unescape(name) == RECORD_NAMES[table]:
            return visible_text(why)
    return None


def dashboard_reason(board: str, table: str) -> str | None:
    group = re.search(rf'data-purpose-group="{GROUP_OF_TABLE[table]}">.*?'
                      r"<span data-kept-because>(.*?)</span>", board, re.S)
    return visible_text(group[1]) if group else None


def reasons_disagree(notice: str, board: str) -> list[str]:
    problems = []
    for table in GROUP_OF_TABLE:
        said = notice_reason(notice, table), dashboard_reason(board, table)
        if None in said or said[0] != said[1]:
            problems.append(f"{table}: notice says {said[0]!r}, dashboard says {said[1]!r}")
    return problems


@pytest.fixture
def pages(tmp_path: Path) -> tuple[str, str, str]:
    """The notice, a dashboard with a child's record and a paired toy, and the consent page."""
    app = fast_app(tmp_path)
    client = app.test_client()
    signup(client, "reasons@example.org")
    child_id = add_child(client, "Ivy")
    consent_by_card(client, child_id, {"core"})
    pair_toy(db_for(app), child_id, time.time())
    return (client.get("/parent/notice").get_data(as_text=True),
            client.get(f"/parent/children/{child_id}/data").get_data(as_text=True),
            client.get(f"/parent/children/{child_id}/consent").get_data(as_text=True))


def test_notice_and_dashboard_give_the_same_reason_from_the_data_map(
        pages: tuple[str, str, str]) -> None:
    notice, board, _ = pages
    assert reasons_disagree(notice, board) == []
    for table in GROUP_OF_TABLE:
        assert notice_reason(notice, table) == data_map().kept_because(table)
    # The paired toy sits in its own group, not under another purpose's reason.
    assert 'data-purpose-group="security"' not in board
    assert "Paired toy:" in visible_text(board)


def test_negative_control_a_dashboard_with_other_wording_is_caught(
        pages: tuple[str, str, str]) -> None:
    notice, board, _ = pages
    reason = data_map().kept_because("children")
    escaped = str(html_escape(reason))
    assert reason and escaped in board
    drifted = board.replace(escaped, "The age band and country you entered decide "
                            "the consent age. Kept until you delete everything.")
    problems = reasons_disagree(notice, drifted)
    assert len(problems) == 1 and problems[0].startswith("children:")
    # A page that drops the reason altogether is caught too.
    assert reasons_disagree(notice, board.replace("data-kept-because", "")) != []


def test_the_notice_says_who_provides_the_content(pages: tuple[str, str, str]) -> None:
    notice, _, consent = pages
    card = re.search(r'id="notice-third_party">(.*?)</section>', notice, re.S)
    assert card and CONTENT_SOURCE in visible_text(card[1])
    assert "named content partner" not in visible_text(notice)
    # The consent page and the data map say the same.
    choice = re.search(r'id="choice-third_party"(.*?)</fieldset>', consent, re.S)
    assert choice and CONTENT_SOURCE in visible_text(choice[1])
    assert CONTENT_SOURCE in data_map().purposes["third_party"].notice


def test_negative_control_the_old_unnamed_partner_wording_fails(
        pages: tuple[str, str, str]) -> None:
    notice, _, _ = pages
    old = ("Teddy may share your child's favourite things with a named content partner to "
           "offer new stories. Off unless you turn it on; the toy works fully without it.")
    card = re.search(r'id="notice-third_party">(.*?)</section>', notice, re.S)
    assert card
    variant = card[1].replace(str(html_escape(data_map().purposes["third_party"].notice)), old)
    assert variant != card[1] and CONTENT_SOURCE not in visible_text(variant)
