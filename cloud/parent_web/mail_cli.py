"""`teddy cloud mailbox`: read the simulated e-mail of one address, as its owner would.

The testbed has no mail service. Messages for a signed-in parent show on the Mailbox page;
messages for someone who cannot sign in yet (a sign-up to confirm, a forgotten password) are
read here, by whoever runs the cloud, standing in for the parent's own mail program.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from teddy.json_output import JsonSink, add_json_options

# Messages sent before the cloud kept its public origin with each one: where `teddy cloud
# serve` listens by default.
OLD_MESSAGES = "http://127.0.0.1:8080"


def register_mailbox(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mailbox = sub.add_parser("mailbox", help="read the simulated e-mail sent to one address")
    mailbox.add_argument("--db", required=True,
                         help="the cloud's database: an SQLite file or postgresql://... URL")
    mailbox.add_argument("--to", required=True, help="the e-mail address")
    mailbox.add_argument("--base-url",
                         help="prefix for links in the messages (default: the address the "
                              f"cloud was reached at when it sent each one; {OLD_MESSAGES} "
                              "for messages from before that was kept)")
    mailbox.add_argument("--clock-file", help="file holding a clock offset in seconds")
    add_json_options(mailbox, "the messages, newest first,")
    mailbox.set_defaults(handler=_mailbox)


def _mailbox(args: argparse.Namespace) -> int:
    from cloud.clock import Clock, iso
    from cloud.parent_web.outbox import messages_to
    from cloud.storage.db import open_db
    from cloud.storage.url import backend_of, sqlite_path

    if backend_of(args.db) == "sqlite" and not Path(sqlite_path(args.db)).is_file():
        print(f"teddy cloud mailbox: no database at {args.db}", file=sys.stderr)
        return 2
    now = Clock(args.clock_file).time() if args.clock_file else time.time()
    messages = messages_to(open_db(args.db), args.to, now)

    def full_link(link: str | None, origin: str | None) -> str | None:
        if not link:
            return None
        return f"{(args.base_url or origin or OLD_MESSAGES).rstrip('/')}{link}"

    JsonSink(args).document({"to": args.to, "messages": [
        {"delivered_at": iso(m.deliver_at), "subject": m.subject, "body": m.body,
         "link": full_link(m.link, m.origin)} for m in messages]})
    if args.json:
        return 0
    if not messages:
        print(f"no messages for {args.to}")
    for message in messages:
        print(f"{iso(message.deliver_at)}  {message.subject}\n  {message.body}")
        if message.link:
            print(f"  {full_link(message.link, message.origin)}")
    return 0
