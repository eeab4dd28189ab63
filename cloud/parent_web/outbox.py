"""The simulated mailbox: e-mails, texts and call notes Teddy "sends" to a parent.

There is no mail or SMS gateway in the testbed, so messages land here and the parent reads them
on the Mailbox page. A message can be scheduled for later, which is how e-mail plus sends its
delayed confirmation. Messages name purposes, never anything the child said.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils
from flask import current_app, has_request_context, request

from teddy.contracts.data_map import data_map


@dataclass(frozen=True)
class Message:
    id: int
    child_id: int | None
    channel: str
    recipient: str
    subject: str
    body: str
    link: str | None
    deliver_at: float
    delivered: bool
    # Where the link is to be opened: the public origin the cloud had when it sent it
    # (None on messages from before it was kept).
    origin: str | None = None


def public_origin() -> str | None:
    """The address parents reach this cloud at: the configured public URL, else the one this
    request came to (as ProxyFix sees it behind a trusted proxy); None outside a request."""
    if not has_request_context():
        return None
    configured = current_app.config["TEDDY"].public_url
    return configured or request.host_url.rstrip("/")


def send(db: sqlite_utils.Database, *, parent_id: int, child_id: int | None, channel: str,
         recipient: str, subject: str, body: str, now: float, link: str | None = None,
         delay_s: float = 0.0) -> int:
    keep_s = data_map().retention_days("parent_outbox") * 86400
    cursor = db.execute(
        "INSERT INTO parent_outbox (parent_id, child_id, channel, recipient, subject, body, "
        "link, origin, created_at, deliver_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [parent_id, child_id, channel, recipient, subject, body, link,
         public_origin() if link else None, now, now + delay_s, now + delay_s + keep_s],
    )
    return int(cursor.fetchone()[0])


def email_parent(db: sqlite_utils.Database, *, parent_id: int, recipient: str, subject: str,
                 body: str, now: float, link: str | None = None) -> int:
    """A message about the parent's own account, not about any child."""
    return send(db, parent_id=parent_id, child_id=None, channel="email", recipient=recipient,
                subject=subject, body=body, now=now, link=link)


# Account mail (confirming a sign-up, resetting a password) is for the address's owner, read
# with `teddy cloud mailbox`: a signed-in page never offers its links, so a borrowed session
# cannot turn into a password reset.
ACCOUNT_LINKS = ("/parent/reset/", "/parent/signup/confirm/", "/parent/forgot")


def mailbox(db: sqlite_utils.Database, parent_id: int, now: float) -> list[Message]:
    """Newest first; scheduled messages are listed but their content is not shown yet;
    account mail is left out."""
    rows = db.execute(
        "SELECT id, child_id, channel, recipient, subject, body, link, deliver_at "
        "FROM parent_outbox WHERE parent_id = ? AND expires_at > ? ORDER BY deliver_at DESC, "
        "id DESC",
        [parent_id, now],
    ).fetchall()
    return [Message(*row, delivered=row[7] <= now) for row in rows
            if not (row[6] or "").startswith(ACCOUNT_LINKS)]


def mask_phone(number: str) -> str:
    return "•••• " + number[-2:]


def messages_to(db: sqlite_utils.Database, recipient: str, now: float) -> list[Message]:
    """A mailbox read from outside the parent pages, as the parent's own mail program would:
    for links sent to someone not signed in (confirming a sign-up, resetting a password)."""
    rows = db.execute(
        "SELECT id, child_id, channel, recipient, subject, body, link, deliver_at, origin "
        "FROM parent_outbox WHERE recipient = ? AND expires_at > ? AND deliver_at <= ? "
        "ORDER BY deliver_at DESC, id DESC",
        [recipient.strip().lower(), now, now],
    ).fetchall()
    return [Message(*row[:8], delivered=True, origin=row[8]) for row in rows]


def newest_link(db: sqlite_utils.Database, recipient: str, starts_with: str) -> str | None:
    """The newest link of that kind sent to an address, whatever the cloud's clock says."""
    row = db.execute(
        "SELECT link FROM parent_outbox WHERE recipient = ? AND link LIKE ? "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        [recipient.strip().lower(), starts_with.replace("%", "") + "%"],
    ).fetchone()
    return str(row[0]) if row else None
